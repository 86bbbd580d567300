"""WAHA's event websocket (`/ws?session=*&events=session.status`) as typed `SessionEvent`s, with reconnects.

Uses the `websockets` client. WORKING arrives twice (authenticated, then ready): both are passed on, a state
consumer treats the second as a no-op. A malformed message is counted and skipped, never raised.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.events import ChannelState, ChannelStatus, EventKind, SessionEvent
from pulse_tui.sources.gateway.base import display_url
from pulse_tui.sources.gateway.channel import Backoff, StatusKeeper
from pulse_tui.sources.gateway.waha import map_status

CLOSE_REASONS = {
    4001: "WAHA refused the subscription (this version allows only session=* and events=*|session.status)",
    1001: "WAHA is going away (restart or shutdown)",
    1006: "the connection dropped without a close frame",
    1009: "WAHA sent a message over 1 MiB; pulse-tui closed the channel",
}


def ws_url(http_url: str, api_key: str | None, session: str = "*") -> str:
    """`http://h:p` -> `ws://h:p/ws?session=*&events=session.status[&x-api-key=…]` (contains the key: never shown)."""
    parts = urlsplit(http_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query: dict[str, str] = {"session": session, "events": "session.status"}
    if api_key:
        query["x-api-key"] = api_key
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws", urlencode(query, safe="*"), ""))


def parse_waha_event(text: str | bytes, now: float) -> SessionEvent | None:
    """One websocket message -> a SessionEvent; None for anything that is not a session.status envelope."""
    try:
        obj: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or obj.get("event") != "session.status":
        return None
    payload = obj.get("payload")
    session = obj.get("session")
    word = payload.get("status") if isinstance(payload, dict) else None
    if isinstance(payload, dict) and isinstance(payload.get("name"), str):
        session = payload["name"]
    if not isinstance(session, str) or not session or not isinstance(word, str):
        return None
    ts = obj.get("timestamp")
    at = ts / 1000.0 if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0 else now
    state, detail = map_status(word)
    return SessionEvent(session, EventKind.STATE, at, detail, word, state)


class WahaEvents:
    """Connects, yields events, reconnects with backoff; `status` says connected/connecting/down and why."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        clock: Clock | None = None,
        session: str = "*",
        open_timeout_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self._url = ws_url(url, api_key, session)
        self._shown = display_url(url)
        self._api_key = api_key
        self.open_timeout_s = open_timeout_s
        self.backoff = backoff or Backoff()
        self._keeper = StatusKeeper(self.clock)
        self.skipped = 0  # messages that were not session.status envelopes
        self._last_reason = ""

    @property
    def status(self) -> ChannelStatus:
        return self._keeper.status

    def watch(self, names: Iterable[str]) -> None:
        """Nothing to do: one websocket carries every session (`session=*`)."""

    async def events(self) -> AsyncIterator[SessionEvent]:
        """Every session event until the consumer stops iterating (reconnects in between)."""
        while True:
            self._keeper.set(ChannelState.CONNECTING, f"connecting to {self._shown}/ws")
            self._last_reason = ""
            async for ev in self._one_connection():
                yield ev
            self._keeper.set(ChannelState.DOWN, self._last_reason or "the event channel closed")
            await asyncio.sleep(self.backoff.next())

    async def _one_connection(self) -> AsyncIterator[SessionEvent]:
        headers = {"X-Api-Key": self._api_key} if self._api_key else None
        try:
            async with connect(self._url, additional_headers=headers, open_timeout=self.open_timeout_s,
                               proxy=None, ping_interval=20, ping_timeout=20, close_timeout=2,
                               max_size=1 << 20) as ws:
                self._keeper.set(ChannelState.CONNECTED, "")
                self.backoff.reset()
                async for message in ws:
                    ev = parse_waha_event(message, self.clock.now())
                    if ev is None:
                        self.skipped += 1
                        continue
                    self._keeper.counted()
                    yield ev
                self._last_reason = self._closed_reason(ws.close_code, ws.close_reason)
        except ConnectionClosed as exc:
            frame = exc.rcvd or exc.sent  # `sent` when we closed it (e.g. 1009 for an oversized message)
            self._last_reason = self._closed_reason(frame.code if frame else 1006, None)
        except InvalidStatus as exc:
            code = exc.response.status_code
            self._last_reason = ("WAHA rejected our API key on the event channel (HTTP 401)" if code == 401
                                 else f"WAHA refused the event channel (HTTP {code})")
        except TimeoutError:
            self._last_reason = f"no websocket answer from {self._shown} within {self.open_timeout_s:g}s"
        except OSError:
            self._last_reason = f"cannot connect to {self._shown} (connection refused?)"
        except WebSocketException as exc:
            self._last_reason = f"event channel failed ({type(exc).__name__})"

    @staticmethod
    def _closed_reason(code: int | None, reason: str | None) -> str:
        if code in CLOSE_REASONS:
            return f"{CLOSE_REASONS[code]} (code {code})"
        return f"WAHA closed the event channel (code {code})"
