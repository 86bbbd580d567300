"""A host as it is written in a URL's authority: an IPv6 address goes in brackets (RFC 3986 §3.2.2)."""

from __future__ import annotations


def url_host(host: str) -> str:
    """`host` ready for `scheme://HOST:port`: "::1" -> "[::1]", names and IPv4 addresses unchanged."""
    return f"[{host}]" if ":" in host else host
