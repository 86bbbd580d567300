"""Every URL pulse-tui writes brackets an IPv6 host, through one function."""

from __future__ import annotations

from pulse_tui.config import config_from_values
from pulse_tui.url_host import url_host


def test_ipv6_goes_in_brackets_names_and_ipv4_do_not() -> None:
    assert url_host("::1") == "[::1]"
    assert url_host("fe80::1%eth0") == "[fe80::1%eth0]"
    assert url_host("127.0.0.1") == "127.0.0.1"
    assert url_host("redis.internal") == "redis.internal"


def test_redis_url_built_from_an_ipv6_host() -> None:
    config = config_from_values({"REDIS_HOST": "::1", "REDIS_PORT": "6380"})
    assert config.redis_url == "redis://[::1]:6380/0"
