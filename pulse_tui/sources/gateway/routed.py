"""One request through `HttpCaller`'s budget and failure mapping, where the route itself reads its 4xx answers.

WAHA answers 422 and Evolution 403/404 with meaningful bodies ("already started", "name in use", "does not
exist"); `HttpCaller.request` turns a status outside its `route_codes` into a generic failure, so these adapters
send through here, with those statuses passed through.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pulse_tui.model import GatewayFailure
from pulse_tui.sources.gateway.base import CallKind, HttpCaller, Reply
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
    route_codes: Collection[int] = (400, 404, 422),
    spend: Spend = Spend.POLL,
    json_body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    call: CallKind = CallKind.STATUS,
) -> Reply | GatewayFailure:
    """`HttpCaller.request` with these routes' meaningful 4xx statuses passed through as replies."""
    return await http.request(method, path, call=call, spend=spend, json_body=json_body, params=params,
                              headers=headers, timeout_s=timeout_s, route_codes=route_codes)
