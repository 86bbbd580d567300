"""One request through `HttpCaller`'s budget and failure mapping, where the route itself reads its 4xx answers.

WAHA answers 422 and Evolution 403/404 with meaningful bodies ("already started", "name in use", "does not
exist"); `HttpCaller.request` would turn those into a generic failure, so these adapters send through here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pulse_tui.model import GatewayFailure, HealthState
from pulse_tui.sources.gateway.base import CallKind, HttpCaller, Reply, failure
from pulse_tui.sources.gateway.budget import Spend

MAX_MESSAGE = 200  # a hostile server's message must not fill the screen


def message_of(body: Any) -> str | None:
    """The human text of a WAHA/Evolution error body (`message` string or list, `error`, `response.message`),
    cut to MAX_MESSAGE characters."""
    found = _message(body)
    return found[:MAX_MESSAGE] if found else found


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("response")
        if isinstance(inner, dict):
            found = _message(inner)
            if found:
                return found
        msg = body.get("message")
        if isinstance(msg, list) and msg and all(isinstance(m, str) for m in msg):
            return "; ".join(msg)
        for key in ("message", "error"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key])
    return None


async def send(
    http: HttpCaller,
    method: str,
    path: str,
    *,
    has_key: bool,
    route_codes: Collection[int] = (400, 404, 422),
    spend: Spend = Spend.POLL,
    json_body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    call: CallKind = CallKind.STATUS,
) -> Reply | GatewayFailure:
    """A response whose status is 2xx or in `route_codes`, else a typed failure (never an exception).

    The whole answer (connect, headers, body) must arrive within `timeout_s` (default: the call kind's
    deadline) and within the call kind's size cap, as for every other gateway request.
    """
    if not http.budget.try_spend(spend):
        return http.budget.refusal(spend)
    kw: dict[str, Any] = {}
    if json_body is not None:
        kw["json"] = json_body
    if params:
        kw["params"] = params
    if headers:
        kw["headers"] = headers
    resp = await http.fetch(method, path, call, kw, timeout_s)
    if isinstance(resp, GatewayFailure):
        return resp
    code = resp.status_code
    if 200 <= code < 300 or code in route_codes:
        return resp
    if code in (401, 403):
        why = "the gateway rejected our API key" if has_key else "the gateway requires an API key"
        return failure(HealthState.UNAUTHORIZED, f"{why} (HTTP {code})", code)
    return http.status_failure(resp) or failure(HealthState.ERROR, f"unexpected HTTP {code}", code)
