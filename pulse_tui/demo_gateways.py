"""`pulse-tui demo --gateway waha|evolution`: the app against the WAHA or Evolution simulator on loopback.

WAHA: three sessions (two starting towards a QR, one stopped), its websocket, ~3 s actions, 6 QR codes then
FAILED. Evolution: three instances (one open, one showing a QR, one closed), its socket.io, QRCODE_LIMIT. A QR is
scanned by itself after `auto_scan_s`, so the table moves without a phone.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pulse_tui.config import Config, GatewayKind
from pulse_tui.sim.aiorunner import AioSim
from pulse_tui.sim.evolution import EvolutionSim
from pulse_tui.sim.waha import WahaSim
from pulse_tui.sources.gateway.keys_from_env import (
    EvolutionSettings,
    WahaSettings,
    evolution_settings,
    waha_settings,
)

DEMO_WAHA_KEY = "demo-waha-key-" + "5e" * 8
DEMO_EVOLUTION_KEY = "demo-evolution-key-" + "3c" * 8
WAHA_SESSIONS = ("default", "sales", "archive")  # archive stays STOPPED
EVOLUTION_INSTANCES = ("shop", "support", "old-number")  # open, showing a QR, closed


@dataclass
class GatewayDemo:
    """One simulator, the Config that points pulse-tui at it, and the temp dir of the audit log."""

    root: Path
    sim: AioSim
    config: Config

    def close(self) -> None:
        self.sim.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_gateway_demo(kind: GatewayKind, *, read_only: bool = False, ascii: bool = False,
                       auto_scan_s: float | None = 8.0, action_delay_s: float = 3.0) -> GatewayDemo:
    """Start the simulator of `kind` (WAHA or Evolution) with a few sessions; the Config for it."""
    root = Path(tempfile.mkdtemp(prefix=f"pulse-tui-demo-{kind.value}-"))
    common = {"PULSE_TUI_GATEWAY": kind.value, "PULSE_TUI_AUDIT_LOG": str(root / "audit.jsonl")}
    sim: AioSim
    waha_cfg: WahaSettings | None
    evo_cfg: EvolutionSettings | None
    if kind == GatewayKind.WAHA:
        waha = WahaSim(DEMO_WAHA_KEY, auto_scan_s=auto_scan_s, action_delay_s=action_delay_s, start_delay_s=1.0)
        sim = waha
        url = waha.start()
        for name in WAHA_SESSIONS:
            waha.add_session(name, start=name != "archive")
        env = {**common, "WAHA_API_KEY": DEMO_WAHA_KEY}
        waha_cfg, evo_cfg = waha_settings(env), None
    elif kind == GatewayKind.EVOLUTION:
        evo = EvolutionSim(DEMO_EVOLUTION_KEY, auto_scan_s=auto_scan_s)
        sim = evo
        url = evo.start()
        evo.add_instance("shop", connect=True, paired=True)
        evo.add_instance("support", connect=True)
        evo.add_instance("old-number")
        env = {**common, "AUTHENTICATION_API_KEY": DEMO_EVOLUTION_KEY, "WEBSOCKET_ENABLED": "true"}
        waha_cfg, evo_cfg = None, evolution_settings(env)
    else:
        shutil.rmtree(root, ignore_errors=True)
        raise ValueError(f"no simulator demo for {kind.value}")
    config = Config(gateway_kind=kind, gateway_url=url, poll_seconds=3.0, read_only=read_only, ascii=ascii,
                    audit_log=root / "audit.jsonl", gateway_keys=(DEMO_WAHA_KEY, DEMO_EVOLUTION_KEY),
                    waha=waha_cfg, evolution=evo_cfg)
    return GatewayDemo(root, sim, config)
