"""The snapshot -> metrics mapping, on hand-built snapshots, through prometheus_client's own text format."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pulse_tui.exporter.metrics import METRICS, SnapshotCollector, served_names
from pulse_tui.model import (
    ConnState,
    Finding,
    GatewayHealth,
    HealthState,
    HostSummary,
    KeysStatus,
    Persistence,
    RedisReport,
    SessionView,
    Severity,
    Snapshot,
    UserSession,
    ValueClass,
)
from pulse_tui.sources.logs.line import LogLine

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = 1_790_000_000.0


def view(sid: str, state: ConnState, *, last_known: ConnState | None = None, rss: int | None = None) -> SessionView:
    return SessionView(id=sid, state=state, since=NOW - 60, seconds_in_state=60.0, phone="15551234567",
                       restorable=state == ConnState.CONNECTED, last_known=last_known, rss_bytes=rss,
                       pss_bytes=None if rss is None else rss // 3, uss_bytes=None if rss is None else rss // 6)


def user(i: int, cls: ValueClass, ttl: int | None) -> UserSession:
    return UserSession(key=f"session:{i:032x}", session_id=f"{i:032x}", value_class=cls, ttl=ttl,
                       whatsapp_id=f"1555000{i:04d}@c.us", phone=f"1555000{i:04d}")


def snapshot(**kw: object) -> Snapshot:
    base = Snapshot(
        taken_at=NOW, gateway_kind="salesboy", gateway_url="http://127.0.0.1:3001",
        gateway=GatewayHealth(HealthState.OK, latency_ms=12.5, budget_left=80, budget_limit=90),
        sessions=(view("s-a", ConnState.CONNECTED, rss=300_000_000), view("s-b", ConnState.QR)),
        redis=RedisReport(
            available=True,
            sessions=(user(1, ValueClass.OK, None), user(2, ValueClass.OK, 1800), user(3, ValueClass.DEFAULT_KEY, 7200),
                      user(4, ValueClass.UNDECRYPTABLE, 3 * 86_400), user(5, ValueClass.OK, 30 * 86_400)),
            persistence=Persistence(save="", appendonly="no", config_available=True),
        ),
        keys=KeysStatus("default"),
        findings=(Finding(Severity.CRITICAL, "redis-persistence-off", "m", subjects=("x",)),
                  Finding(Severity.WARNING, "browser-stale-lock", "m", subjects=("s-a",)),
                  Finding(Severity.WARNING, "browser-stale-lock", "m", subjects=("s-b",))),
        poll_s=0.25,
        host=HostSummary(orphans=2, stale_locks=1),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def render(collector: SnapshotCollector) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    collector.render()
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def scraped(snap: Snapshot) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    c = SnapshotCollector()
    c.update(snap)
    return render(c)


def test_every_documented_metric_is_served_and_nothing_else() -> None:
    c = SnapshotCollector()
    c.update(snapshot(sessions=(view("s-a", ConnState.QR),)))
    c.counters.count_lines([LogLine(NOW, "info", "pm2-out.log", "x")])
    c.update(snapshot())
    got = render(c)
    assert set(got) == served_names()


def test_names_follow_the_prometheus_guidelines() -> None:
    for m in METRICS:
        assert re.fullmatch(r"pulse_[a-z_]+", m.name), m.name
        assert m.name.endswith("_total") == (m.kind == "counter"), m.name
        assert m.name.endswith("_info") == (m.kind == "info"), m.name
        assert not re.search(r"_(ms|milliseconds|mb|kb|percent)(_|$)", m.name), m.name  # base units only
        assert "phone" not in m.labels and "whatsapp_id" not in m.labels and "user" not in m.labels


def test_session_state_is_one_hot_over_every_state() -> None:
    got = scraped(snapshot())
    for sid, current in (("s-a", "connected"), ("s-b", "qr")):
        states = {dict(k)["state"]: v for k, v in got["pulse_session_state"].items() if dict(k)["session"] == sid}
        assert set(states) == {s.value for s in ConnState}
        assert [s for s, v in states.items() if v == 1.0] == [current]
    assert got["pulse_sessions"][(("state", "connected"),)] == 1.0
    assert got["pulse_sessions"][(("state", "stuck"),)] == 0.0
    assert got["pulse_session_restorable"] == {(("session", "s-a"),): 1.0, (("session", "s-b"),): 0.0}
    assert got["pulse_session_state_change_timestamp_seconds"][(("session", "s-a"),)] == NOW - 60
    assert got["pulse_session_state_change_seen"][(("session", "s-a"),)] == 1.0
    first_sight = snapshot(sessions=(replace(view("s-a", ConnState.CONNECTED), since_first_seen=True),))
    assert scraped(first_sight)["pulse_session_state_change_seen"] == {(("session", "s-a"),): 0.0}
    assert got["pulse_session_browser_pss_bytes"] == {(("session", "s-a"),): 100_000_000.0}
    assert got["pulse_session_browser_uss_bytes"] == {(("session", "s-a"),): 50_000_000.0}


def test_gateway_figures_in_base_units() -> None:
    got = scraped(snapshot())
    assert got["pulse_gateway_latency_seconds"][()] == 0.0125
    assert got["pulse_gateway_requests_remaining"][()] == 80.0
    assert got["pulse_gateway_up"][()] == 1.0
    assert got["pulse_gateway_health"][(("state", "ok"),)] == 1.0
    down = scraped(snapshot(gateway=GatewayHealth(HealthState.UNAUTHORIZED)))
    assert down["pulse_gateway_up"][()] == 0.0
    assert down["pulse_gateway_health"][(("state", "unauthorized"),)] == 1.0
    assert "pulse_gateway_latency_seconds" not in down  # unknown is absent, never a made-up 0


def test_user_sessions_are_counted_by_class_and_expiry_never_listed() -> None:
    got = scraped(snapshot())
    assert got["pulse_user_sessions"] == {
        (("class", "ok"),): 3.0, (("class", "default-key"),): 1.0, (("class", "undecryptable"),): 1.0,
        (("class", "plain"),): 0.0, (("class", "corrupt"),): 0.0,
    }
    assert got["pulse_user_sessions_expiring"] == {
        (("within", "1h"),): 1.0, (("within", "1d"),): 2.0, (("within", "7d"),): 3.0,
    }
    for series in got.values():
        for labels in series:
            assert not any("1555000" in v for _, v in labels)


def test_redis_persistence_and_findings() -> None:
    got = scraped(snapshot())
    assert got["pulse_redis_persistence_enabled"][()] == 0.0
    assert got["pulse_findings"][(("code", "browser-stale-lock"), ("severity", "warning"))] == 2.0
    assert got["pulse_host_orphaned_browsers"][()] == 2.0 and got["pulse_host_stale_locks"][()] == 1.0
    down = scraped(snapshot(redis=RedisReport(available=False, error="refused")))
    assert down["pulse_redis_up"][()] == 0.0
    assert "pulse_user_sessions" not in down and "pulse_redis_persistence_enabled" not in down


def test_transitions_count_known_state_changes_only() -> None:
    c = SnapshotCollector()
    c.update(snapshot(sessions=(view("s-a", ConnState.CONNECTED),)))
    c.update(snapshot(sessions=(view("s-a", ConnState.STOPPED),)))
    # the gateway went away: the session is shown `unknown`, but its known state did not change
    c.update(snapshot(sessions=(view("s-a", ConnState.UNKNOWN, last_known=ConnState.STOPPED),)))
    c.update(snapshot(sessions=(view("s-a", ConnState.CONNECTED),)))
    c.update(snapshot(sessions=(view("s-a", ConnState.CONNECTED),)))
    got = render(c)["pulse_session_transitions_total"]
    assert got == {(("session", "s-a"), ("to", "stopped")): 1.0, (("session", "s-a"), ("to", "connected")): 1.0}


def test_transitions_of_a_session_gone_for_a_day_are_forgotten() -> None:
    c = SnapshotCollector()
    c.update(snapshot(sessions=(view("s-a", ConnState.CONNECTED), view("s-b", ConnState.CONNECTED))))
    c.update(snapshot(sessions=(view("s-a", ConnState.STOPPED), view("s-b", ConnState.STOPPED))))
    c.update(snapshot(taken_at=NOW + 3600, sessions=(view("s-b", ConnState.STOPPED),)))
    assert len(render(c)["pulse_session_transitions_total"]) == 2  # an hour away: still counted
    c.update(snapshot(taken_at=NOW + 2 * 86_400, sessions=(view("s-b", ConnState.STOPPED),)))
    assert set(render(c)["pulse_session_transitions_total"]) == {(("session", "s-b"), ("to", "stopped"))}


def test_log_lines_counted_by_file_and_level_across_rotations() -> None:
    c = SnapshotCollector()
    c.counters.count_lines([LogLine(NOW, "error", "pm2-out.log", "x"), LogLine(NOW, "", "pm2-out.log.3", "y"),
                            LogLine(NOW, "error", "pm2-out.log.1", "z")])
    c.update()
    got = render(c)["pulse_log_lines_total"]
    assert got == {(("level", "error"), ("source", "pm2-out.log")): 2.0,
                   (("level", "unknown"), ("source", "pm2-out.log")): 1.0}


def test_scrapes_serve_the_last_snapshot_without_polling() -> None:
    c = SnapshotCollector()
    assert "pulse_gateway_up" not in render(c)  # before the first poll: only the exporter's own counters
    c.update(snapshot())
    first = render(c)
    assert render(c) == first  # scraping twice changes nothing and asks no source


def test_readme_lists_exactly_the_served_metrics() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Exporter", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(pulse_[a-z_]+)`", section, flags=re.M))
    assert listed == served_names()


def test_readme_table_is_the_generated_one() -> None:
    from pulse_tui.exporter.metrics import markdown_table

    assert markdown_table() in README.read_text(encoding="utf-8")
