"""`python -m pulse_tui.sim --port N --auth-root DIR [...]`: run the gateway simulator, print its URL.

`--flavor waha|waha-core-2024|evolution` runs the WAHA or Evolution simulator instead (pulse_tui.sim.flavors)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from pulse_tui.sim.gateway import GatewaySim


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pulse_tui.sim", description="Salesboy/Pulse gateway simulator")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.1 or ::1")
    p.add_argument("--auth-root", type=Path, required=True, help="LocalAuth root (.wwebjs_auth / whatsapp-sessions)")
    p.add_argument("--api-key", default=None, help="production mode: require x-api-key")
    p.add_argument("--flavor", choices=("salesboy", "pulse"), default="salesboy",
                   help="salesboy or pulse; waha, waha-core-2024 and evolution take the options of "
                        "`python -m pulse_tui.sim.flavors`")
    p.add_argument("--log-dir", type=Path, default=None, help="write winston gateway-YYYY-MM-DD.log here")
    p.add_argument("--auto-scan", type=float, default=None, metavar="SECONDS", help="scan each QR after this long")
    p.add_argument("--rate-limit", type=int, default=100)
    p.add_argument("--rate-window", type=float, default=900.0)
    p.add_argument("--start-delay", type=float, default=1.0)
    p.add_argument("--qr-interval", type=float, default=20.0)
    p.add_argument("--qr-max", type=int, default=5)
    p.add_argument("--restore-interval", type=float, default=5.0)
    p.add_argument("--phone", action="append", default=[], help="Pulse: a configured instance (repeatable)")
    return p


def _other_flavor(argv: list[str]) -> bool:
    from pulse_tui.sim.flavors import FLAVORS

    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--flavor=") else argv[i + 1] if arg == "--flavor" and \
            i + 1 < len(argv) else None
        if value in FLAVORS:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _other_flavor(argv):
        from pulse_tui.sim import flavors

        return flavors.main(argv)
    args = build_parser().parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print("the simulator only listens on loopback (127.0.0.1 or ::1)", file=sys.stderr)
        return 2
    sim = GatewaySim(
        args.auth_root, args.api_key, args.log_dir, args.port, flavor=args.flavor, host=args.host,
        rate_limit=args.rate_limit, rate_window_s=args.rate_window, start_delay_s=args.start_delay,
        qr_interval_s=args.qr_interval, qr_max=args.qr_max, auto_scan_s=args.auto_scan,
        restore_interval_s=args.restore_interval, phones=tuple(args.phone),
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(sim.start(), flush=True)
    try:
        done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
