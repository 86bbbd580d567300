"""An http:// gateway's client speaks plain HTTP (no TLS stack, no CA bundle, no httpcore); an https:// one still
verifies certificates."""

from __future__ import annotations

import ssl

import pytest

from pulse_tui.sources.gateway.base import HttpCaller
from pulse_tui.sources.gateway.budget import RequestBudget
from pulse_tui.sources.gateway.plain_http import PlainHttpTransport


def _verify_mode(url: str) -> ssl.VerifyMode:
    caller = HttpCaller("salesboy", url, None, RequestBudget(None))
    context = caller.client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    return context.verify_mode


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "HTTPS://[::1]:8443/api"])
def test_https_gateways_verify_certificates(url: str) -> None:
    assert _verify_mode(url) == ssl.CERT_REQUIRED


@pytest.mark.parametrize("url", ["http://127.0.0.1:3001", "HTTP://[::1]:3000/api"])
def test_http_gateways_use_the_plain_transport(url: str) -> None:
    caller = HttpCaller("salesboy", url, None, RequestBudget(None))
    assert isinstance(caller.client._transport, PlainHttpTransport)  # type: ignore[attr-defined]
