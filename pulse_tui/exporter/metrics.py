"""Snapshot -> Prometheus metric families: a pure mapping, and a Collector that serves the last one.

Scrapes never poll: the serve loop renders each new snapshot once (`SnapshotCollector.update`) and every
scrape returns those families. Labels never carry an end user's phone number or WhatsApp id: Pulse's Redis
user sessions are counted by class; a WhatsApp connection is labelled by its gateway session id only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from pulse_tui.model import ConnState, HealthState, Snapshot, ValueClass
from pulse_tui.sources.logs.line import LogLine

PREFIX = "pulse_"
# Cumulative buckets: a session expiring in 10 minutes counts in all three.
EXPIRING_WITHIN = (("1h", 3600), ("1d", 86_400), ("7d", 7 * 86_400))
# A gateway that answered lately: rate limits and our own budget pause the asking, they do not mean it is gone.
UP_STATES = (HealthState.OK, HealthState.RATE_LIMITED, HealthState.BUDGET)
# A session gone from the gateway for a day takes its transition counters with it: ids churn, memory must not.
FORGET_AFTER_S = 86_400.0


@dataclass(frozen=True)
class MetricDoc:
    """One served metric: its name as scraped, type, labels and meaning (the README table is built from these)."""

    name: str
    kind: str  # "gauge" | "counter" | "info"
    labels: tuple[str, ...]
    help: str


METRICS: tuple[MetricDoc, ...] = (
    MetricDoc("pulse_gateway_up", "gauge", (),
              "1 when the gateway answered (ok, rate-limited, or paused by our own budget); 0 when down, "
              "unauthorized or erroring"),
    MetricDoc("pulse_gateway_health", "gauge", ("state",),
              "1 for the gateway's current health state (ok, unauthorized, rate-limited, down, error, "
              "out-of-budget, unknown), 0 for the others"),
    MetricDoc("pulse_gateway_info", "info", ("kind", "version"),
              "the gateway adapter in use (salesboy, pulse) and its version (unknown when it does not say)"),
    MetricDoc("pulse_gateway_latency_seconds", "gauge", (), "latency of the last answered gateway request"),
    MetricDoc("pulse_gateway_requests_remaining", "gauge", (),
              "gateway requests pulse-tui may still spend in the current rate-limit window"),
    MetricDoc("pulse_gateway_requests_limit", "gauge", (), "pulse-tui's request budget per rate-limit window"),
    MetricDoc("pulse_sessions", "gauge", ("state",), "WhatsApp connections per state (every state, 0 included)"),
    MetricDoc("pulse_session_state", "gauge", ("session", "state"),
              "1 for the state a WhatsApp connection is in, 0 for every other state"),
    MetricDoc("pulse_session_state_change_timestamp_seconds", "gauge", ("session",),
              "when the connection entered its current state, or when pulse-tui first saw it in that state (Unix time)"),
    MetricDoc("pulse_session_state_change_seen", "gauge", ("session",),
              "1 when the state change timestamp is a change pulse-tui saw, 0 when it is only its first sight of "
              "the connection, already in that state (which may have lasted much longer)"),
    MetricDoc("pulse_session_restorable", "gauge", ("session",),
              "1 when the connection survives a gateway restart without a QR scan (auth on disk)"),
    MetricDoc("pulse_session_transitions_total", "counter", ("session", "to"),
              "state changes of a connection since the exporter started, by the state entered "
              "(a source going away is not counted: `unknown` is what we know, not the session's state)"),
    MetricDoc("pulse_session_browser_pss_bytes", "gauge", ("session",),
              "proportional memory (PSS) of the connection's Chromium processes, summed: what the session "
              "costs the host (shared pages split between their users)"),
    MetricDoc("pulse_session_browser_uss_bytes", "gauge", ("session",),
              "private memory (USS) of the connection's Chromium processes, summed: what stopping it frees"),
    MetricDoc("pulse_redis_up", "gauge", (), "1 when Pulse's Redis answered the last inspection"),
    MetricDoc("pulse_redis_persistence_enabled", "gauge", (),
              "1 when Redis saves to disk (RDB or AOF), 0 when a restart loses every session; absent when "
              "CONFIG could not tell"),
    MetricDoc("pulse_user_sessions", "gauge", ("class",),
              "Pulse user sessions in Redis by how their value opens (ok, default-key, undecryptable, plain, "
              "corrupt)"),
    MetricDoc("pulse_user_sessions_expiring", "gauge", ("within",),
              "Pulse user sessions whose TTL ends within 1h, 1d or 7d (cumulative)"),
    MetricDoc("pulse_findings", "gauge", ("severity", "code"),
              "the doctor's findings on the last snapshot, counted by severity and stable code"),
    MetricDoc("pulse_host_orphaned_browsers", "gauge", (), "browser process trees nobody owns any more"),
    MetricDoc("pulse_host_stale_locks", "gauge", (), "Chromium SingletonLocks left by a dead process"),
    MetricDoc("pulse_log_lines_total", "counter", ("source", "level"),
              "log lines read since the exporter started, by log file and level (unknown when the line did "
              "not say)"),
    MetricDoc("pulse_exporter_poll_duration_seconds", "gauge", (), "how long the last poll of every source took"),
    MetricDoc("pulse_exporter_last_poll_timestamp_seconds", "gauge", (),
              "when the last snapshot was taken (Unix time): a stalled exporter shows here"),
    MetricDoc("pulse_exporter_poll_errors_total", "counter", (), "polls that failed as a whole (the last "
              "snapshot keeps being served)"),
    MetricDoc("pulse_watchdog_running", "gauge", (), "1 while a `pulse-tui watch` holds this gateway's lock "
              "(acting, or dry-run/read-only), else 0"),
    MetricDoc("pulse_watchdog_paused", "gauge", (), "1 while the watchdog is paused (gateway unwell, budget low, "
              "keys in doubt, the gateway restoring by itself)"),
    MetricDoc("pulse_watchdog_actions_total", "counter", ("result",), "the watchdog's decisions since it started, "
              "by result: acted, failed, would-act, skipped, needs-qr, circuit-open"),
    MetricDoc("pulse_watchdog_circuit_open", "gauge", ("session",), "1 for a session the watchdog leaves alone "
              "until an operator resets it (`pulse-tui watch --reset ID`), else 0"),
)
_DOC = {m.name: m for m in METRICS}


def served_names() -> set[str]:
    """Every sample name a scrape can show (counters with `_total`, info metrics with `_info`)."""
    return {m.name for m in METRICS}


def _effective(state: ConnState, last_known: ConnState | None) -> ConnState:
    return last_known if state == ConnState.UNKNOWN and last_known is not None else state


def _log_source(source: str) -> str:
    # A rotated copy (`pm2-out.log.3`) is the same log: one series per log, not one per rotation.
    head, _, tail = source.rpartition(".")
    return head if head and tail.isdigit() else source


@dataclass
class Counters:
    """What counters need between snapshots: the last state of each session and the running totals."""

    transitions: dict[tuple[str, str], int] = field(default_factory=dict)
    log_lines: dict[tuple[str, str], int] = field(default_factory=dict)
    poll_errors: int = 0
    _last: dict[str, ConnState] = field(default_factory=dict)
    _seen_at: dict[str, float] = field(default_factory=dict)

    def observe(self, snap: Snapshot) -> None:
        """Count each session whose (known) state differs from the previous snapshot's."""
        seen: dict[str, ConnState] = {}
        for s in snap.sessions:
            state = _effective(s.state, s.last_known)
            seen[s.id] = state
            before = self._last.get(s.id)
            if before is not None and before != state and state != ConnState.UNKNOWN:
                key = (s.id, state.value)
                self.transitions[key] = self.transitions.get(key, 0) + 1
            self._seen_at[s.id] = snap.taken_at
        self._last = seen
        gone = {sid for sid, at in self._seen_at.items() if snap.taken_at - at > FORGET_AFTER_S}
        if gone:
            self.transitions = {k: n for k, n in self.transitions.items() if k[0] not in gone}
            for sid in gone:
                del self._seen_at[sid]

    def count_lines(self, lines: Iterable[LogLine]) -> None:
        for ln in lines:
            key = (_log_source(ln.source), ln.level or "unknown")
            self.log_lines[key] = self.log_lines.get(key, 0) + 1


def _gauge(name: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, _DOC[name].help, labels=list(labels))


def _single(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, _DOC[name].help, value=value)


def families(snap: Snapshot | None, counters: Counters, *, gateway_version: str = "unknown") -> list[Metric]:
    """Every metric family for one snapshot and the counters' totals. Pure: reads, never changes, its inputs."""
    out: list[Metric] = []
    counter_families(counters, out)
    if snap is None:
        return out
    gw = snap.gateway
    states = list(ConnState)

    up = _gauge("pulse_gateway_up")
    up.add_metric([], 1.0 if gw.state in UP_STATES else 0.0)
    health = _gauge("pulse_gateway_health", ["state"])
    for h in HealthState:
        health.add_metric([h.value], 1.0 if gw.state == h else 0.0)
    info = InfoMetricFamily("pulse_gateway", _DOC["pulse_gateway_info"].help, labels=["kind", "version"])
    info.add_metric([snap.gateway_kind, gateway_version], {})
    out += [up, health, info]
    if gw.latency_ms is not None:
        out.append(_single("pulse_gateway_latency_seconds", gw.latency_ms / 1000.0))
    if gw.budget_left is not None:
        out.append(_single("pulse_gateway_requests_remaining", float(gw.budget_left)))
    if gw.budget_limit is not None:
        out.append(_single("pulse_gateway_requests_limit", float(gw.budget_limit)))

    by_state = dict.fromkeys(states, 0)
    state = _gauge("pulse_session_state", ["session", "state"])
    since = _gauge("pulse_session_state_change_timestamp_seconds", ["session"])
    seen = _gauge("pulse_session_state_change_seen", ["session"])
    restorable = _gauge("pulse_session_restorable", ["session"])
    pss = _gauge("pulse_session_browser_pss_bytes", ["session"])
    uss = _gauge("pulse_session_browser_uss_bytes", ["session"])
    # Samples built directly (add_metric zips labels per call): 1,000 sessions make 11,000 samples per poll.
    state_samples, since_samples, seen_samples = state.samples, since.samples, seen.samples
    restorable_samples, pss_samples, uss_samples = restorable.samples, pss.samples, uss.samples
    state_values = [st.value for st in states]
    for s in snap.sessions:
        by_state[s.state] += 1
        current = s.state.value
        for value in state_values:
            state_samples.append(Sample("pulse_session_state", {"session": s.id, "state": value},
                                        1.0 if value == current else 0.0))
        only = {"session": s.id}
        since_samples.append(Sample("pulse_session_state_change_timestamp_seconds", only, s.since))
        seen_samples.append(Sample("pulse_session_state_change_seen", only, 0.0 if s.since_first_seen else 1.0))
        restorable_samples.append(Sample("pulse_session_restorable", only, 1.0 if s.restorable else 0.0))
        if s.pss_bytes is not None:
            pss_samples.append(Sample("pulse_session_browser_pss_bytes", only, float(s.pss_bytes)))
        if s.uss_bytes is not None:
            uss_samples.append(Sample("pulse_session_browser_uss_bytes", only, float(s.uss_bytes)))
    sessions = _gauge("pulse_sessions", ["state"])
    for st in states:
        sessions.add_metric([st.value], float(by_state[st]))
    out += [sessions, state, since, seen, restorable, pss, uss]

    out += _redis_families(snap)

    findings: dict[tuple[str, str], int] = {}
    for f in snap.findings:
        fk = (f.severity.value, f.code)
        findings[fk] = findings.get(fk, 0) + 1
    found = _gauge("pulse_findings", ["severity", "code"])
    for (sev, code), n in sorted(findings.items()):
        found.add_metric([sev, code], float(n))
    out.append(found)

    if snap.host is not None:
        out.append(_single("pulse_host_orphaned_browsers", float(snap.host.orphans)))
        out.append(_single("pulse_host_stale_locks", float(snap.host.stale_locks)))

    out.append(_single("pulse_exporter_poll_duration_seconds", snap.poll_s))
    out.append(_single("pulse_exporter_last_poll_timestamp_seconds", snap.taken_at))
    return out


def _redis_families(snap: Snapshot) -> list[Metric]:
    redis = snap.redis
    if redis is None:
        return []  # Redis not configured, or its first inspection has not finished
    up = _gauge("pulse_redis_up")
    up.add_metric([], 1.0 if redis.available else 0.0)
    out: list[Metric] = [up]
    enabled = redis.persistence.enabled if redis.persistence is not None else None
    if enabled is not None:
        out.append(_single("pulse_redis_persistence_enabled", 1.0 if enabled else 0.0))
    if not redis.available:
        return out
    by_class = dict.fromkeys(ValueClass, 0)
    expiring = [0] * len(EXPIRING_WITHIN)
    for u in redis.sessions:
        by_class[u.value_class] += 1
        if u.ttl is not None and u.ttl >= 0:
            for i, (_, limit) in enumerate(EXPIRING_WITHIN):
                if u.ttl <= limit:
                    expiring[i] += 1
    users = _gauge("pulse_user_sessions", ["class"])
    for vc, n in by_class.items():
        users.add_metric([vc.value], float(n))
    soon = _gauge("pulse_user_sessions_expiring", ["within"])
    for (label, _), n in zip(EXPIRING_WITHIN, expiring, strict=True):
        soon.add_metric([label], float(n))
    return out + [users, soon]


def counter_families(counters: Counters, out: list[Metric]) -> None:
    """The exporter's own running totals (served even before the first snapshot)."""
    trans = CounterMetricFamily("pulse_session_transitions", _DOC["pulse_session_transitions_total"].help,
                                labels=["session", "to"])
    for (sid, to), n in sorted(counters.transitions.items()):
        trans.add_metric([sid, to], float(n))
    lines = CounterMetricFamily("pulse_log_lines", _DOC["pulse_log_lines_total"].help, labels=["source", "level"])
    for (src, level), n in sorted(counters.log_lines.items()):
        lines.add_metric([src, level], float(n))
    errors = CounterMetricFamily("pulse_exporter_poll_errors", _DOC["pulse_exporter_poll_errors_total"].help)
    errors.add_metric([], float(counters.poll_errors))
    out += [trans, lines, errors]


WATCHDOG_RESULTS = ("acted", "failed", "would-act", "skipped", "needs-qr", "circuit-open")


def watchdog_families(state: dict[str, Any] | None, snap: Snapshot | None) -> list[Metric]:
    """The watchdog's metrics from its last state (pulse_tui/watch/state.py); all zero when none runs."""
    state = state or {}
    running = _single("pulse_watchdog_running", 1.0 if state.get("running") else 0.0)
    paused = _single("pulse_watchdog_paused", 1.0 if state.get("running") and state.get("paused") else 0.0)
    raw_counts, raw_circuits = state.get("counts"), state.get("circuits_open")
    counts: dict[str, Any] = raw_counts if isinstance(raw_counts, dict) else {}
    actions = CounterMetricFamily("pulse_watchdog_actions", _DOC["pulse_watchdog_actions_total"].help,
                                  labels=["result"])
    for result in WATCHDOG_RESULTS:
        n = counts.get(result, 0)
        actions.add_metric([result], float(n) if isinstance(n, int | float) and not isinstance(n, bool) else 0.0)
    circuits: dict[str, Any] = raw_circuits if isinstance(raw_circuits, dict) else {}
    circuit = _gauge("pulse_watchdog_circuit_open", ["session"])
    for s in snap.sessions if snap is not None else ():
        circuit.add_metric([s.id], 1.0 if s.id in circuits else 0.0)
    return [running, paused, actions, circuit]


class SnapshotCollector(Collector):
    """Serves the families of the last `render()`; a scrape never polls and never waits for a poll."""

    def __init__(self, *, gateway_version: str = "unknown",
                 watchdog: Callable[[], dict[str, Any] | None] | None = None) -> None:
        self.gateway_version = gateway_version
        self.watchdog = watchdog  # reads the running watchdog's state (a small file), at render time
        self.counters = Counters()
        self.snapshot: Snapshot | None = None
        self.dirty = True
        self._families: tuple[Metric, ...] = ()

    def update(self, snap: Snapshot | None = None) -> None:
        """Take a new snapshot (from a poll or a log event); None: only the counters moved. Cheap: no rendering."""
        if snap is not None:
            self.counters.observe(snap)
            self.snapshot = snap
        self.dirty = True

    def render(self) -> None:
        """Build the families of the last snapshot (call from the thread that updates, not from a scrape)."""
        # One assignment: a scrape in the HTTP thread sees the old tuple or the new one, never a mix.
        state = self.watchdog() if self.watchdog is not None else None
        self._families = tuple(families(self.snapshot, self.counters, gateway_version=self.gateway_version)
                               + watchdog_families(state, self.snapshot))
        self.dirty = False

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def markdown_table() -> str:
    """The README's metric table (`python -m pulse_tui.exporter.metrics` prints it)."""
    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for m in METRICS:
        labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
        rows.append(f"| `{m.name}` | {m.kind} | {labels} | {m.help.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
