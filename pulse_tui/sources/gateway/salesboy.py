"""Salesboy gateway adapter (specs/salesboy.md): API key, 100 requests / 15 min, QR as PNG over SSE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from pulse_tui.config import GatewayKind
from pulse_tui.model import (
    ActionResult,
    FailureKind,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    QrCode,
    SessionStatus,
)
from pulse_tui.sources.authdirs import EntryCounts, Layout, delete_auth_dir, discover, salesboy_id_error
from pulse_tui.sources.gateway import safejson
from pulse_tui.sources.gateway.base import (
    AdapterOptions,
    CallKind,
    LedgerAdapter,
    error_text,
    failure,
    not_ok,
    refused,
    shape_failure,
)
from pulse_tui.sources.gateway.budget import Spend
from pulse_tui.sources.gateway.capabilities import Capabilities, Consequences, QrForm

if TYPE_CHECKING:
    from typing_extensions import Unpack

PNG_PREFIX = "data:image/png;base64,"
WINDOW_S = 900.0  # express-rate-limit window Salesboy configures

CAPABILITIES = Capabilities(
    lists_sessions=False,  # no listing route: ids come from auth dirs, configuration and what we started
    stop_deletes_auth=True,  # its stop route destroys the client AND deletes the LocalAuth dir
    has_restart=False,
    has_delete=True,  # local: removes the auth dir under a configured root
    qr_form=QrForm.PNG_DATA_URL,
    id_rule=salesboy_id_error,
    restores_from_auth_dir=True,
    budget_window_s=WINDOW_S,
    consequences=Consequences(
        stop="The gateway destroys its WhatsApp client and DELETES its auth files; "
             "the next start needs a new QR scan on the phone.",
    ),
)


def _id_failure(session_id: str, err: str) -> GatewayFailure:
    # No request is sent for an id the gateway would refuse: it would only spend budget on a 400.
    return failure(HealthState.ERROR, f"{session_id!r} is not a valid Salesboy user id ({err})", 400,
                   kind=FailureKind.INVALID)


class EventTooLarge(Exception):
    """An SSE line or event grew past its cap (a hostile or broken stream)."""


async def bounded_lines(chunks: AsyncIterator[str], cap: int) -> AsyncIterator[str]:
    """Lines of a text stream, never buffering more than `cap` characters of one line."""
    pending = ""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            yield line.removesuffix("\r")
        if len(pending) > cap:
            raise EventTooLarge
    if pending:
        yield pending.removesuffix("\r")


async def sse_events(lines: AsyncIterator[str], cap: int | None = None) -> AsyncIterator[str]:
    """The `data` of each Server-Sent Event (multi-line data joined with newlines); EventTooLarge past `cap`."""
    data: list[str] = []
    size = 0
    async for line in lines:
        if line == "":
            if data:
                yield "\n".join(data)
                data, size = [], 0
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            size += len(data[-1])
            if cap is not None and size > cap:
                raise EventTooLarge
    if data:
        yield "\n".join(data)


def qr_from_event(data: str) -> QrCode | GatewayFailure:
    """`{"qr": "data:image/png;base64,…"}` -> QrCode, anything else -> a typed failure."""
    try:
        obj = safejson.loads(data)
    except ValueError:
        return failure(HealthState.ERROR, "unexpected QR event: not JSON", kind=FailureKind.MALFORMED)
    qr = obj.get("qr") if isinstance(obj, dict) else None
    if not isinstance(qr, str) or not qr.startswith(PNG_PREFIX):
        return shape_failure("the QR stream")
    return QrCode(png_data_url=qr)


class SalesboyGateway(LedgerAdapter):
    """Salesboy: no listing route, so sessions come from auth dirs, configuration and what we started."""

    kind = GatewayKind.SALESBOY
    capabilities = CAPABILITIES
    request_limit = 100  # express-rate-limit's 100 requests per 15 minutes per client
    limit_window_s = WINDOW_S

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        auth_roots: Iterable[Path] = (),
        extra_sessions: Iterable[str] = (),
        sse_silence_s: float = 90.0,
        sse_retry_s: float = 3.0,
        list_auth_dirs: bool = True,
        **options: Unpack[AdapterOptions],
    ) -> None:
        super().__init__(url, api_key, **options)
        self.auth_roots = tuple(Path(p) for p in auth_roots)
        self.extra_sessions = tuple(extra_sessions)
        self.started: set[str] = set()
        self.sse_silence_s = sse_silence_s
        self.sse_retry_s = sse_retry_s
        # False where the monitor reads the same roots every poll (build_targets): one listing per poll, not two.
        self.list_auth_dirs = list_auth_dirs
        self._entry_counts = EntryCounts()  # every list re-reads the auth dirs: unchanged ones are not reopened

    # --- reading ---------------------------------------------------------------------

    async def health(self) -> GatewayHealth:
        return await self._http.health("/health")

    async def list_sessions(self) -> list[str] | GatewayFailure:
        """Valid auth dirs (unless `list_auth_dirs` is off) + configured ids + ids started here. Costs no request."""
        dirs = (await asyncio.to_thread(discover, self.auth_roots, Layout.SALESBOY, counts=self._entry_counts)
                if self.auth_roots and self.list_auth_dirs else [])
        ids = {d.session_id for d in dirs if d.valid}
        ids.update(self.extra_sessions)
        ids.update(self.started)
        return sorted(ids)

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure:
        if err := self.capabilities.id_error(session_id):
            return _id_failure(session_id, err)
        what = "GET /session/status"
        got = await self._http.request_json("GET", f"/session/status/{quote(session_id, safe='')}", what)
        if isinstance(got, GatewayFailure):
            return got
        code, body = got
        if code == 400:
            return failure(HealthState.ERROR, f"gateway refused {session_id}: {error_text(body) or 'HTTP 400'}", 400)
        st = self._parse_status(session_id, body, what)
        if isinstance(st, SessionStatus):
            self.budget.remember(st)
        return st

    @staticmethod
    def _parse_status(session_id: str, body: Any, what: str) -> SessionStatus | GatewayFailure:
        if not isinstance(body, dict):
            return shape_failure(what)
        exists, ready, qr = body.get("exists"), body.get("ready"), body.get("qr")
        if not isinstance(exists, bool) or not isinstance(ready, bool) or not (qr is None or isinstance(qr, str)):
            return shape_failure(what)
        if qr is not None and not qr.startswith(PNG_PREFIX):
            return shape_failure(what)
        # Older gateways kept a stale QR after `ready`: ready wins.
        code = QrCode(png_data_url=qr) if qr and not ready else None
        return SessionStatus(session_id, exists, ready, qr=code)

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure:
        """The current code from a status call (None when the session shows none)."""
        st = await self.status(session_id)
        return st if isinstance(st, GatewayFailure) else st.qr

    async def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """Codes from `GET /session/qr/<id>` (one request for many codes); reconnects after a drop or a long
        silence (the real stream stays silent forever when it was opened before the client existed)."""
        if err := self.capabilities.id_error(session_id):
            yield _id_failure(session_id, err)
            return
        path = f"/session/qr/{quote(session_id, safe='')}"
        retry = self.sse_retry_s
        last: str | None = None
        while True:
            if not self.budget.try_spend(Spend.ACTION):
                refusal = self.budget.refusal(Spend.ACTION)
                yield refusal
                await asyncio.sleep(max(1.0, refusal.retry_after_s or retry))
                continue
            async for item in self._one_stream(path):
                if isinstance(item, QrCode):
                    retry = self.sse_retry_s
                    if item.png_data_url == last:
                        continue  # the same code again after a reconnect
                    last = item.png_data_url
                yield item
            await asyncio.sleep(retry)
            retry = min(retry * 2, 60.0)

    async def _one_stream(self, path: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """One SSE connection: its headers within the QR deadline, then events until a silence or a drop."""
        http = self._http
        timeout = http.timeout(http.timeouts.status_s, read_s=self.sse_silence_s)
        deadline = http.timeouts.deadline(CallKind.QR)
        cap = http.timeouts.cap(CallKind.QR)
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout(deadline):  # a server that never sends its headers
                    resp = await stack.enter_async_context(http.client.stream("GET", path, timeout=timeout))
                http.observe(resp)
                bad = http.status_failure(resp)
                if bad is None and resp.status_code != 200:
                    bad = failure(HealthState.ERROR, f"gateway refused the QR stream (HTTP {resp.status_code})",
                                  resp.status_code)
                if bad is None and not resp.headers.get("content-type", "").startswith("text/event-stream"):
                    bad = failure(HealthState.ERROR, "unexpected answer to the QR stream: not an event stream",
                                  resp.status_code, kind=FailureKind.MALFORMED)
                if bad is not None:
                    yield bad
                    return
                events = sse_events(bounded_lines(resp.aiter_text(), cap), cap)
                while True:
                    try:
                        # No complete event for this long (silence, or a byte now and then): reconnect.
                        async with asyncio.timeout(self.sse_silence_s):
                            data = await anext(events)
                    except (StopAsyncIteration, TimeoutError):
                        return
                    yield qr_from_event(data)
        except TimeoutError:
            yield failure(HealthState.DOWN, f"no answer from {self.url} within {deadline:g}s (QR stream headers)",
                          kind=FailureKind.DEADLINE)
        except httpx.ReadTimeout:
            return  # silence: reconnect quietly
        except EventTooLarge:
            yield failure(HealthState.ERROR, f"QR stream event larger than {cap // 1024} KiB",
                          kind=FailureKind.TOO_LARGE)
        except httpx.HTTPError as exc:
            yield http.transport_failure(exc, http.timeouts.status_s)

    # --- actions -------------------------------------------------------------------------

    async def _action(self, route: str, session_id: str) -> ActionResult:
        if err := self.capabilities.id_error(session_id):
            return not_ok(_id_failure(session_id, err))
        what = f"POST {route}"
        got = await self._http.request_json("POST", route, what, call=CallKind.ACTION, spend=Spend.ACTION,
                                            json_body={"userId": session_id})
        if isinstance(got, GatewayFailure):
            return not_ok(got)
        code, body = got
        if code == 400:
            return refused(error_text(body) or "HTTP 400", 400)
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            return not_ok(shape_failure(what, code))
        message = body.get("message")
        return ActionResult(body["success"], message if isinstance(message, str) else "")

    async def start(self, session_id: str) -> ActionResult:
        """POST /session/start: answers once the browser is up (a long timeout)."""
        result = await self._action("/session/start", session_id)
        if result.ok:
            self.started.add(session_id)
        return result

    async def stop(self, session_id: str) -> ActionResult:
        """POST /session/stop: destroys the client AND deletes its auth dir ("Session not found" keeps it)."""
        return await self._action("/session/stop", session_id)

    async def restart(self, session_id: str) -> ActionResult:
        return ActionResult(False, "restart is not supported by the Salesboy gateway")

    async def delete(self, session_id: str) -> ActionResult:
        """Remove `session-<id>` under a configured auth root (no gateway route; costs no request).

        Does not stop a running client: the caller confirms first and stops it if needed.
        """
        if not self.auth_roots:
            return ActionResult(False, "no auth dir root configured (PULSE_TUI_AUTH_DIR)")
        ok, message = await asyncio.to_thread(delete_auth_dir, self.auth_roots, session_id, Layout.SALESBOY)
        return ActionResult(ok, message)
