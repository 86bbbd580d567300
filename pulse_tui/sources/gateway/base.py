"""The `Gateway` protocol every adapter satisfies, and the HTTP plumbing they share.

Every call returns a value: a result, or a typed `GatewayFailure` / not-ok `ActionResult`. httpx errors,
JSON errors, wrong shapes, 401/429/5xx never escape as exceptions, and no message carries a secret.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.model import (
    ActionResult,
    GatewayFailure,
    GatewayHealth,
    HealthState,
    QrCode,
    SessionStatus,
)
from pulse_tui.sources.gateway.budget import RequestBudget, Spend, parse_retry_after


@runtime_checkable
class Gateway(Protocol):
    """One WhatsApp gateway (Salesboy, Pulse…) as the monitor and the TUI use it."""

    kind: str
    url: str
    supports_restart: bool
    supports_delete: bool

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

    def qr_stream(self, session_id: str) -> AsyncIterator[QrCode | GatewayFailure]:
        """Each new QR code (or a failure) until the consumer stops iterating."""
        ...

    def budget_snapshot(self) -> tuple[int | None, int | None]:
        """(requests left, limit) in the current window; (None, None) when unlimited."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Timeouts:
    """Seconds. Status/health are short; start waits for Chromium (tens of seconds on a real gateway)."""

    connect_s: float = 3.0
    status_s: float = 3.0
    action_s: float = 60.0


DEFAULT_TIMEOUTS = Timeouts()


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
            retry_after_s: float | None = None) -> GatewayFailure:
    return GatewayFailure(state, detail, status_code, retry_after_s)


def not_ok(f: GatewayFailure) -> ActionResult:
    """An action that could not be done because of a gateway failure."""
    return ActionResult(False, f.detail, f)


def to_health(f: GatewayFailure, latency_ms: float | None, budget: RequestBudget) -> GatewayHealth:
    """A failure as the header shows it."""
    left, limit = budget.snapshot()
    return GatewayHealth(f.state, latency_ms, left, limit, f.retry_after_s, f.detail)


def json_of(resp: httpx.Response, what: str) -> Any | GatewayFailure:
    """The response body as JSON, or a typed failure saying the body was not JSON."""
    try:
        return resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        ctype = resp.headers.get("content-type", "?").split(";")[0]
        return failure(HealthState.ERROR, f"unexpected answer to {what}: not JSON ({ctype}, HTTP {resp.status_code})",
                       resp.status_code)


def shape_failure(what: str, status_code: int | None = None) -> GatewayFailure:
    return failure(HealthState.ERROR, f"unexpected answer to {what}: wrong JSON shape", status_code)


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
    ) -> None:
        self.kind = kind
        self.url = display_url(url)
        self.budget = budget
        self.clock = clock or SystemClock()
        self.timeouts = timeouts
        self._api_key = api_key
        self.last_latency_ms: float | None = None
        headers = {"x-api-key": api_key} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeouts.status_s, connect=timeouts.connect_s),
            follow_redirects=False,
            trust_env=False,  # never route loopback calls through an environment proxy
            transport=transport,
        )

    def timeout(self, total_s: float, read_s: float | None = None) -> httpx.Timeout:
        return httpx.Timeout(total_s, connect=min(self.timeouts.connect_s, total_s),
                             read=total_s if read_s is None else read_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        spend: Spend = Spend.POLL,
        json_body: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response | GatewayFailure:
        """Send one request if the budget allows; a response with a 2xx/4xx status, or a failure."""
        if not self.budget.try_spend(spend):
            return self.budget.refusal(spend)
        t = timeout_s if timeout_s is not None else self.timeouts.status_s
        started = self.clock.monotonic()
        try:
            kw: dict[str, Any] = {"timeout": self.timeout(t)}
            if json_body is not None:
                kw["json"] = json_body
            resp = await self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            return self.transport_failure(exc, t)
        self.last_latency_ms = round((self.clock.monotonic() - started) * 1000.0, 1)
        self.observe(resp)
        return self.status_failure(resp) or resp

    def observe(self, resp: httpx.Response) -> None:
        """Feed the budget the server's rate-limit headers."""
        if resp.status_code == 401:
            self.budget.refund()  # the API-key check runs before the limiter: a 401 costs no budget
        self.budget.observe(resp.headers, resp.status_code)

    def transport_failure(self, exc: Exception, timeout_s: float) -> GatewayFailure:
        """A transport error as a typed failure (message names no secret, never the raw exception text)."""
        if isinstance(exc, httpx.ConnectTimeout):
            self.budget.refund()
            return failure(HealthState.DOWN, f"could not connect to {self.url} within {self.timeouts.connect_s:g}s")
        if isinstance(exc, httpx.TimeoutException):
            return failure(HealthState.DOWN, f"no answer from {self.url} within {timeout_s:g}s")
        if isinstance(exc, httpx.ConnectError):
            self.budget.refund()  # never reached the server: it did not count it either
            return failure(HealthState.DOWN, f"cannot connect to {self.url} (connection refused?)")
        if isinstance(exc, httpx.RemoteProtocolError):
            return failure(HealthState.DOWN, f"{self.url} closed the connection without answering")
        return failure(HealthState.DOWN, f"{self.url} unreachable ({type(exc).__name__})")

    def status_failure(self, resp: httpx.Response) -> GatewayFailure | None:
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
                           retry_after_s=retry)
        if code >= 500:
            return failure(HealthState.ERROR, f"gateway error (HTTP {code})", code)
        if code == 404:
            return failure(HealthState.ERROR, f"route not found (HTTP 404): is this a {self.kind} gateway?", code)
        if code >= 300 and code != 400:
            return failure(HealthState.ERROR, f"unexpected HTTP {code}", code)
        return None

    async def health(self, path: str) -> GatewayHealth:
        """GET `path`, expecting `{"status": "ok", …}`."""
        resp = await self.request("GET", path)
        if isinstance(resp, GatewayFailure):
            return to_health(resp, self.last_latency_ms, self.budget)
        body = json_of(resp, f"GET {path}")
        if isinstance(body, GatewayFailure):
            return to_health(body, self.last_latency_ms, self.budget)
        if resp.status_code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            return to_health(shape_failure(f"GET {path}", resp.status_code), self.last_latency_ms, self.budget)
        left, limit = self.budget.snapshot()
        return GatewayHealth(HealthState.OK, self.last_latency_ms, left, limit)

    async def aclose(self) -> None:
        await self.client.aclose()
