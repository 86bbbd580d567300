"""Canned stand-ins for the monitor and a gateway: the app on fixed data (appearance tests, benchmarks)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator

from pulse_tui.model import ActionResult, GatewayFailure, HealthState, QrCode, Snapshot
from pulse_tui.monitor.logbatch import LogBatch
from pulse_tui.sim.qrpayload import make_payload
from pulse_tui.sources.gateway.salesboy import CAPABILITIES as SALESBOY_CAPABILITIES
from pulse_tui.sources.logs.line import LogLine


class CannedSource:
    """A snapshot source that answers whatever snapshot it was last given (set `.snap` to change it)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    async def poll(self, *, full: bool = False) -> Snapshot:
        return self.snap

    def current(self) -> Snapshot:
        return self.snap

    def watch(self, session_id: str | None) -> None:
        pass

    def note_action(self, session_id: str, action: str, ok: bool) -> None:
        pass

    def add_session(self, session_id: str) -> None:
        pass

    async def redis_settled(self) -> bool:
        return False

    async def follow(self, feed: AsyncIterable[list[LogLine]]) -> AsyncIterator[LogBatch]:
        """The lines as they come: canned snapshots learn nothing from them."""
        async for lines in feed:
            yield LogBatch(lines)


class CannedGateway:
    """Just enough of a Salesboy gateway: one fixed QR code that stays, a stop that succeeds."""

    kind = "salesboy"
    url = "http://127.0.0.1:3001"
    capabilities = SALESBOY_CAPABILITIES
    last_latency_ms = None

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        yield QrCode(payload=make_payload(random.Random(5)))
        await asyncio.Event().wait()

    async def stop(self, session_id: str) -> ActionResult:
        return ActionResult(True, "Session stopped")

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        return 84, 90

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        return GatewayFailure(HealthState.ERROR, "no linking by phone number")
