"""The `Gateway` protocol every adapter satisfies, and the HTTP plumbing they share.

Every call returns a value: a result, or a typed `GatewayFailure` / not-ok `ActionResult`. httpx errors,
JSON errors, wrong shapes, 401/429/5xx never escape as exceptions, and no message carries a secret.
Every request has a total deadline (connect + headers + body) and a body size cap per call kind
(`Timeouts`): a peer that drips, never answers or sends without end is a typed failure, never a hang.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypedDict, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx

from pulse_tui.clock import Clock, SystemClock
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
from pulse_tui.sources.gateway import safejson
from pulse_tui.sources.gateway.budget import RequestBudget, Spend, parse_retry_after
from pulse_tui.sources.gateway.capabilities import Capabilities
from pulse_tui.sources.gateway.plain_http import PlainHttpTransport


@runtime_checkable
class Gateway(Protocol):
    """One WhatsApp gateway (Salesboy, Pulse…) as the monitor and the TUI use it."""

    kind: GatewayKind
    url: str
    capabilities: Capabilities  # what it can do: every caller asks these, never its kind
    budget: RequestBudget  # its rate-limit window (shared host-wide through the ledger)

    async def health(self) -> GatewayHealth:
        """Is the gateway answering (costs one request)."""
        ...

    async def list_sessions(self) -> list[str] | GatewayFailure:
        """Session ids worth watching (Salesboy: free, from disk and config; Pulse: one request)."""
        ...

    async def status(self, session_id: str) -> SessionStatus | GatewayFailure: ...

    async def start(self, session_id: str) -> ActionResult: ...

    async def stop(self, session_id: str) -> ActionResult:
        """Disconnect (Salesboy: also deletes the auth dir; Pulse: logout, the next start needs a QR)."""
        ...

    async def restart(self, session_id: str) -> ActionResult: ...

    async def delete(self, session_id: str) -> ActionResult:
        """Remove the session's auth (Salesboy: the local auth dir; Pulse: DELETE …/session)."""
        ...

    async def qr(self, session_id: str) -> QrCode | None | GatewayFailure: ...

    def qr_stream(self, session_id: str) -> AsyncGenerator[QrCode | GatewayFailure, None]:
        """Each new QR code (or a failure) until the consumer stops iterating."""
        ...

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        """(requests left, limit) in the current window; (None, None) when unlimited."""
        ...

    @property
    def last_latency_ms(self) -> float | None:
        """How long the last answered request took; None before the first."""
        ...

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        """Each session's last status another pulse-tui process learned, with its time ({} when none is shared)."""
        ...

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        """Link by phone number: the code to type on the phone (a failure when `capabilities.pairing_code` is off)."""
        ...

    def facts(self) -> GatewayFacts | None:
        """What the adapter learned about its server beyond session states, for the doctor; None when nothing."""
        ...

    async def learn_facts(self) -> None:
        """Ask the server for the facts the doctor needs that no poll has brought yet (no-op when none)."""
        ...

    async def aclose(self) -> None: ...


class GatewayFacts(Protocol):
    """An adapter's own facts about its server (WAHA's version and key enforcement, Evolution's instance rows)."""

    @property
    def url(self) -> str: ...


class CallKind(StrEnum):
    """What a request is for: each kind has its own total deadline and body size cap."""

    HEALTH = "health"
    STATUS = "status"
    LIST = "list"
    QR = "qr"
    ACTION = "action"


KIB = 1024


@dataclass(frozen=True)
class Timeouts:
    """Total deadlines (connect + headers + body, seconds) and body caps (bytes) per call kind.

    Status/health are short; start waits for Chromium (tens of seconds on a real gateway). A status body
    carries a QR PNG data URL (~10 kB); a Pulse list holds one small object per instance.
    """

    connect_s: float = 3.0
    status_s: float = 3.0  # status, and health/list/qr unless set
    action_s: float = 60.0
    health_s: float | None = None
    list_s: float | None = None
    qr_s: float | None = None
    health_bytes: int = 16 * KIB
    status_bytes: int = 512 * KIB
    list_bytes: int = 2048 * KIB
    qr_bytes: int = 512 * KIB
    action_bytes: int = 64 * KIB

    def deadline(self, call: CallKind) -> float:
        """The total deadline of one `call`."""
        own = {CallKind.HEALTH: self.health_s, CallKind.LIST: self.list_s, CallKind.QR: self.qr_s,
               CallKind.ACTION: self.action_s}.get(call)
        return self.status_s if own is None else own

    def cap(self, call: CallKind) -> int:
        """The largest body accepted for one `call`."""
        return {CallKind.HEALTH: self.health_bytes, CallKind.STATUS: self.status_bytes,
                CallKind.LIST: self.list_bytes, CallKind.QR: self.qr_bytes,
                CallKind.ACTION: self.action_bytes}[call]


DEFAULT_TIMEOUTS = Timeouts()


@dataclass(frozen=True)
class Reply:
    """A complete answer read within its deadline and size cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def display_url(url: str) -> str:
    """The URL without any user:password part, safe to show and to put in messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")


def failure(state: HealthState, detail: str, status_code: int | None = None,
            retry_after_s: float | None = None, kind: FailureKind = FailureKind.HTTP) -> GatewayFailure:
    return GatewayFailure(state, detail, status_code, retry_after_s, kind)


def not_ok(f: GatewayFailure) -> ActionResult:
    """An action that could not be done because of a gateway failure."""
    return ActionResult(False, f.detail, f)


def to_health(f: GatewayFailure, latency_ms: float | None, budget: RequestBudget) -> GatewayHealth:
    """A failure as the header shows it."""
    left, limit = budget.snapshot()
    return GatewayHealth(f.state, latency_ms, left, limit, f.retry_after_s, f.detail, failure_kind=f.kind,
                         budget_use=budget.use())


def json_of(resp: Reply, what: str) -> Any | GatewayFailure:
    """The response body as JSON, or a typed failure saying why it is not usable JSON."""
    try:
        return safejson.loads(resp.content)
    except ValueError as exc:
        ctype = re.sub(r"[^A-Za-z0-9/+.-]", "?", resp.headers.get("content-type", "?").split(";")[0][:40])
        why = str(exc) if str(exc).startswith(("not JSON", "not UTF-8")) else f"not usable JSON: {exc}"
        return failure(HealthState.ERROR, f"unexpected answer to {what}: {why[:80]} ({ctype}, HTTP {resp.status_code})",
                       resp.status_code, kind=FailureKind.MALFORMED)


def shape_failure(what: str, status_code: int | None = None) -> GatewayFailure:
    return failure(HealthState.ERROR, f"unexpected answer to {what}: wrong JSON shape", status_code,
                   kind=FailureKind.MALFORMED)


def answer_json(resp: Reply | GatewayFailure, what: str, *, empty_is_none: bool = False
                ) -> tuple[int, Any] | GatewayFailure:
    """(status code, JSON body) of an answer, or the failure it already is or its body makes it.

    `empty_is_none`: an empty body is the body None (WAHA answers some routes with nothing)."""
    if isinstance(resp, GatewayFailure):
        return resp
    if empty_is_none and not resp.content:
        return resp.status_code, None
    body = json_of(resp, what)
    return body if isinstance(body, GatewayFailure) else (resp.status_code, body)


def refused(message: str, status_code: int) -> ActionResult:
    """An action the gateway answered with a refusal (its own words in `message`)."""
    return ActionResult(False, message, failure(HealthState.ERROR, message, status_code))


def invalid_id(capabilities: Capabilities, session_id: str) -> GatewayFailure | None:
    """A failure naming the id rule `session_id` breaks (no request is sent for it), else None."""
    err = capabilities.id_error(session_id)
    return failure(HealthState.ERROR, f"{session_id!r}: {err}", 400) if err else None


def pairing_digits(phone: str) -> str | GatewayFailure:
    """The digits of a phone number to link by pairing code (`+` and spaces around it dropped), or why not."""
    digits = phone.strip().lstrip("+")
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        return failure(HealthState.ERROR, "a phone number is 6 to 15 digits, with the country code", 400)
    return digits


async def polled_qr(fetch: Callable[[], Awaitable[QrCode | None | GatewayFailure]], poll_s: float, *,
                    honour_retry_after: bool) -> AsyncGenerator[QrCode | GatewayFailure, None]:
    """Calls `fetch` every `poll_s`; yields each new code, and a failure when one starts (a 400 ends it: a bad
    id will not get better). `honour_retry_after`: after a failure, wait at least its Retry-After."""
    last: str | None = None
    last_failure: GatewayFailure | None = None
    while True:
        got = await fetch()
        if isinstance(got, GatewayFailure):
            if got != last_failure:
                yield got
            last_failure = got
            if got.status_code == 400:
                return
            wait = max(poll_s, got.retry_after_s or 0.0) if honour_retry_after else poll_s
        else:
            last_failure = None
            if got is not None and got.payload != last:
                last = got.payload
                yield got
            wait = poll_s
        await asyncio.sleep(wait)


def error_text(body: Any) -> str | None:
    """`{"error": "..."}` or `{"message": "..."}` text from a 4xx body."""
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


class HttpCaller:
    """httpx.AsyncClient + request budget + failure mapping, shared by the adapters."""

    def __init__(
        self,
        kind: str,
        url: str,
        api_key: str | None,
        budget: RequestBudget,
        *,
        clock: Clock | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        transport: httpx.AsyncBaseTransport | None = None,
        key_header: str = "x-api-key",
    ) -> None:
        self.kind = kind
        self.url = display_url(url)
        self.budget = budget
        self.clock = clock or SystemClock()
        self.timeouts = timeouts
        self._api_key = api_key
        self.last_latency_ms: float | None = None
        headers = {key_header: api_key} if api_key else {}
        # Relative paths, no redirects, no proxy: a client of an http:// gateway never speaks TLS. It needs neither
        # the CA bundle (50-70 ms of CPU) nor httpcore and anyio (as much again, before the first request of the
        # TUI and of `status`): plain HTTP/1.1 over asyncio does.
        plain = urlsplit(url).scheme.lower() == "http"
        if transport is None and plain:
            transport = PlainHttpTransport()
        self.client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeouts.status_s, connect=timeouts.connect_s),
            follow_redirects=False,
            trust_env=False,  # never route loopback calls through an environment proxy
            transport=transport,
            verify=not plain,
        )

    def timeout(self, total_s: float, read_s: float | None = None) -> httpx.Timeout:
        return httpx.Timeout(total_s, connect=min(self.timeouts.connect_s, total_s),
                             read=total_s if read_s is None else read_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: CallKind = CallKind.STATUS,
        spend: Spend = Spend.POLL,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
        route_codes: Collection[int] = (400,),
    ) -> Reply | GatewayFailure:
        """Send one request if the budget allows; the whole answer within `timeout_s` (default: the call kind's
        deadline) and the call kind's size cap, or a failure. 2xx and `route_codes` (statuses the route itself
        answers with a meaningful body) come back as the reply; 401/429/404/5xx… as typed failures."""
        if not self.budget.try_spend(spend):
            return self.budget.refusal(spend)
        kw: dict[str, Any] = {}
        if json_body is not None:
            kw["json"] = json_body
        if params:
            kw["params"] = params
        if headers:
            kw["headers"] = headers
        got = await self.fetch(method, path, call, kw, timeout_s)
        if isinstance(got, GatewayFailure):
            return got
        code = got.status_code
        if 200 <= code < 300 or code in route_codes:
            return got
        return self.status_failure(got) or failure(HealthState.ERROR, f"unexpected HTTP {code}", code)

    async def request_json(self, method: str, path: str, what: str, *, call: CallKind = CallKind.STATUS,
                           spend: Spend = Spend.POLL, json_body: Any = None) -> tuple[int, Any] | GatewayFailure:
        """`request`, then its body as JSON: (status code, body) or a typed failure."""
        return answer_json(await self.request(method, path, call=call, spend=spend, json_body=json_body), what)

    async def fetch(self, method: str, path: str, call: CallKind, kw: dict[str, Any],
                    deadline_s: float | None = None) -> Reply | GatewayFailure:
        """The whole answer (connect, headers, body) within the deadline (default: the call kind's) and the call
        kind's size cap, or a typed failure. Spends no budget and maps no status: callers do both."""
        deadline = self.timeouts.deadline(call) if deadline_s is None else deadline_s
        cap = self.timeouts.cap(call)
        started = self.clock.monotonic()
        try:
            # httpx's timeouts bound each read, not the whole answer: a byte every 0.5 s never trips them.
            async with asyncio.timeout(deadline):
                got = await self.read_capped(method, path, cap, {**kw, "timeout": self.timeout(deadline)})
        except (TimeoutError, httpx.TimeoutException) as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                return self.transport_failure(exc, deadline)
            return failure(HealthState.DOWN, f"no answer from {self.url} within {deadline:g}s (whole {call.value} answer)",
                           kind=FailureKind.DEADLINE)
        except httpx.HTTPError as exc:
            return self.transport_failure(exc, deadline)
        self.last_latency_ms = round((self.clock.monotonic() - started) * 1000.0, 1)
        if got is None:
            return failure(HealthState.ERROR, f"answer from {self.url} to {call.value} larger than {cap // KIB} KiB",
                           kind=FailureKind.TOO_LARGE)
        return got

    async def read_capped(self, method: str, path: str, cap: int, kw: dict[str, Any]) -> Reply | None:
        """The answer, its body streamed up to `cap` bytes; None when it is larger."""
        async with self.client.stream(method, path, **kw) as resp:
            self.observe(resp)  # the server counted it even if the body then turns out unusable
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and len(declared) < 20 and int(declared) > cap:
                return None
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    return None
                chunks.append(chunk)
            return Reply(resp.status_code, resp.headers, b"".join(chunks))

    def observe(self, resp: httpx.Response | Reply) -> None:
        """Feed the budget the server's rate-limit headers."""
        if resp.status_code == 401:
            self.budget.refund()  # the API-key check runs before the limiter: a 401 costs no budget
        self.budget.observe(resp.headers, resp.status_code)

    def transport_failure(self, exc: Exception, timeout_s: float) -> GatewayFailure:
        """A transport error as a typed failure (message names no secret, never the raw exception text)."""
        if isinstance(exc, httpx.ConnectTimeout):
            self.budget.refund()
            return failure(HealthState.DOWN, f"could not connect to {self.url} within {self.timeouts.connect_s:g}s",
                           kind=FailureKind.TRANSPORT)
        if isinstance(exc, httpx.TimeoutException):
            return failure(HealthState.DOWN, f"no answer from {self.url} within {timeout_s:g}s",
                           kind=FailureKind.DEADLINE)
        if isinstance(exc, httpx.ConnectError):
            self.budget.refund()  # never reached the server: it did not count it either
            return failure(HealthState.DOWN, f"cannot connect to {self.url} (connection refused?)",
                           kind=FailureKind.TRANSPORT)
        if isinstance(exc, httpx.RemoteProtocolError):
            return failure(HealthState.DOWN, f"{self.url} closed the connection without answering",
                           kind=FailureKind.TRANSPORT)
        return failure(HealthState.DOWN, f"{self.url} unreachable ({type(exc).__name__})", kind=FailureKind.TRANSPORT)

    def status_failure(self, resp: httpx.Response | Reply) -> GatewayFailure | None:
        """401/429/404/5xx as typed failures; None for statuses the route itself interprets (2xx, 400)."""
        code = resp.status_code
        if code == 401 or code == 403:
            why = "the gateway rejected our API key" if self._api_key else "the gateway requires an API key"
            return failure(HealthState.UNAUTHORIZED, f"{why} (HTTP {code})", code)
        if code == 429:
            retry = parse_retry_after(resp.headers.get("retry-after"), self.clock.now())
            if retry is None:
                retry = self.budget.blocked_for(Spend.ACTION)
            return failure(HealthState.RATE_LIMITED, f"rate-limited by the gateway: retry in {retry:.0f}s", 429,
                           retry_after_s=retry, kind=FailureKind.RATE_LIMITED)
        if code >= 500:
            return failure(HealthState.ERROR, f"gateway error (HTTP {code})", code)
        if code == 404:
            return failure(HealthState.ERROR, f"route not found (HTTP 404): is this a {self.kind} gateway?", code)
        if code >= 300 and code != 400:
            return failure(HealthState.ERROR, f"unexpected HTTP {code}", code)
        return None

    async def health(self, path: str) -> GatewayHealth:
        """GET `path`, expecting `{"status": "ok", …}`."""
        got = await self.request_json("GET", path, f"GET {path}", call=CallKind.HEALTH)
        if isinstance(got, GatewayFailure):
            return to_health(got, self.last_latency_ms, self.budget)
        code, body = got
        if code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            return to_health(shape_failure(f"GET {path}", code), self.last_latency_ms, self.budget)
        left, limit = self.budget.snapshot()
        return GatewayHealth(HealthState.OK, self.last_latency_ms, left, limit, budget_use=self.budget.use())

    async def aclose(self) -> None:
        await self.client.aclose()


class AdapterOptions(TypedDict, total=False):
    """The keyword arguments every HTTP adapter takes (each adapter adds its own after them)."""

    budget: RequestBudget | None  # None: the adapter's own, from `request_limit` / `limit_window_s`
    clock: Clock | None
    timeouts: Timeouts
    transport: httpx.AsyncBaseTransport | None  # tests and benches: a transport of their own
    qr_poll_s: float  # between QR reads, for a gateway that is polled for its QR code


class HttpAdapter:
    """What every HTTP adapter sets up the same way: its clock, its request budget and its `HttpCaller`
    (the API key in `key_header`, the deadlines, an optional test transport). An adapter states how its
    gateway differs in class attributes and passes `AdapterOptions` on as they are."""

    kind: GatewayKind
    key_header: ClassVar[str] = "x-api-key"
    request_limit: ClassVar[int | None] = None  # the gateway's own rate limit; None: unlimited, still counted
    limit_window_s: ClassVar[float] = 900.0

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        budget: RequestBudget | None = None,
        clock: Clock | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        transport: httpx.AsyncBaseTransport | None = None,
        qr_poll_s: float = 2.0,
    ) -> None:
        self.clock = clock or SystemClock()
        self.budget = budget or RequestBudget(self.request_limit, self.limit_window_s, self.clock)
        self._http = HttpCaller(self.kind, url, api_key, self.budget, clock=self.clock, timeouts=timeouts,
                                transport=transport, key_header=self.key_header)
        self.url = self._http.url
        self._has_key = bool(api_key)
        self.qr_poll_s = qr_poll_s

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        """(requests left, limit) in the current window; (None, None) when unlimited."""
        return self.budget.snapshot()

    @property
    def last_latency_ms(self) -> float | None:
        """How long the last answered request took."""
        return self._http.last_latency_ms

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        """None shared: only a `LedgerAdapter` remembers its statuses for the other processes."""
        return {}

    async def request_pairing_code(self, session_id: str, phone: str) -> str | GatewayFailure:
        """Not offered by this gateway: a typed failure, never a request."""
        return GatewayFailure(HealthState.ERROR, f"{self.kind.value} has no linking by phone number",
                              kind=FailureKind.INVALID)

    def facts(self) -> GatewayFacts | None:
        """No facts of its own beyond session states."""
        return None

    async def learn_facts(self) -> None:
        """Nothing to learn beyond what the polls bring."""

    async def aclose(self) -> None:
        await self._http.aclose()


class LedgerAdapter(HttpAdapter):
    """An adapter that remembers each status in the shared ledger (Salesboy, Pulse): the monitor adopts the
    ledger's states, so two pulse-tui processes spend one status request per session between them."""

    def known_states(self) -> dict[str, tuple[SessionStatus, float]]:
        """Each session's last known status and its time, from the shared ledger (costs no request)."""
        return self.budget.recall()
