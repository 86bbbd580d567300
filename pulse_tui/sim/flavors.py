"""`python -m pulse_tui.sim.flavors --flavor waha|waha-core-2024|evolution [...]`: run the WAHA or Evolution
simulator on loopback, print its URL, run until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pulse_tui.sim.aiorunner import LOOPBACK, AioSim
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.gateway import Fault
from pulse_tui.sim.waha import WahaFlavor, WahaSim

FLAVORS = ("waha", "waha-core-2024", "evolution")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pulse_tui.sim.flavors", description="WAHA / Evolution API simulator")
    p.add_argument("--flavor", choices=FLAVORS, required=True)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.1 or ::1")
    p.add_argument("--api-key", default=None, help="WAHA: X-Api-Key to enforce (Core 2024 ignores it); "
                                                  "Evolution: AUTHENTICATION_API_KEY (default testkey123)")
    p.add_argument("--session", action="append", default=[], help="WAHA: a session that exists (repeatable)")
    p.add_argument("--instance", action="append", default=[], help="Evolution: an instance that exists")
    p.add_argument("--action-delay", type=float, default=3.0, help="WAHA: seconds each stop/restart/logout/delete takes")
    p.add_argument("--create-delay", type=float, default=5.0, help="Evolution: seconds create takes")
    p.add_argument("--connect-delay", type=float, default=2.0, help="Evolution: seconds connect from close takes")
    p.add_argument("--qrcode-limit", type=int, default=30, help="Evolution: QRCODE_LIMIT")
    p.add_argument("--del-instance", type=float, default=None, metavar="MINUTES",
                   help="Evolution: DEL_INSTANCE (delete instances not open for that long)")
    p.add_argument("--auto-scan", type=float, default=None, metavar="SECONDS", help="scan each QR after this long")
    p.add_argument("--fault", choices=[f.value for f in Fault], default="none")
    return p


def build_sim(args: argparse.Namespace) -> AioSim:
    """The simulator the arguments describe (not started)."""
    sim: AioSim
    if args.flavor == "evolution":
        evo = EvolutionSim(args.api_key or "testkey123", host=args.host, port=args.port,
                           create_delay_s=args.create_delay, connect_delay_s=args.connect_delay,
                           qrcode_limit=args.qrcode_limit, auto_scan_s=args.auto_scan,
                           del_instance_s=args.del_instance * 60 if args.del_instance else None)
        sim = evo
    else:
        sim = WahaSim(args.api_key, flavor=WahaFlavor(args.flavor), host=args.host, port=args.port,
                      sessions=tuple(args.session), action_delay_s=args.action_delay, auto_scan_s=args.auto_scan)
    sim.set_fault(args.fault)
    return sim


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.host not in LOOPBACK:
        print("the simulator only listens on loopback (127.0.0.1 or ::1)", file=sys.stderr)
        return 2
    sim = build_sim(args)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(sim.start(), flush=True)
    if isinstance(sim, EvolutionSim):
        for name in args.instance:
            sim.add_instance(name)
    try:
        done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
