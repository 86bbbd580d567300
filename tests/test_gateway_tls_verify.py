"""An http:// gateway's client skips loading the CA bundle (it never speaks TLS); an https:// one still verifies."""

from __future__ import annotations

import ssl

import pytest

from pulse_tui.sources.gateway.base import HttpCaller
from pulse_tui.sources.gateway.budget import RequestBudget


def _verify_mode(url: str) -> ssl.VerifyMode:
    caller = HttpCaller("salesboy", url, None, RequestBudget(None))
    context = caller.client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    return context.verify_mode


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "HTTPS://[::1]:8443/api"])
def test_https_gateways_verify_certificates(url: str) -> None:
    assert _verify_mode(url) == ssl.CERT_REQUIRED


def test_http_gateways_load_no_ca_bundle() -> None:
    assert _verify_mode("http://127.0.0.1:3001") == ssl.CERT_NONE
