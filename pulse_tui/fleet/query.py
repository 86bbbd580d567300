"""Read the fleet from Prometheus's HTTP query API: hosts (scrape targets), their health, sessions and findings.

Read-only by construction: only GET /api/v1/query and /api/v1/targets. A Prometheus that cannot be read is a
`FleetFailure` value, never an exception.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pulse_tui.model import ConnState

TIMEOUT_S = 5.0
MAX_BODY = 8 * 1024 * 1024
DEFAULT_REFRESH_S = 15.0


@dataclass(frozen=True)
class FleetFailure:
    """Prometheus could not be read: why, in one sentence."""

    detail: str


@dataclass(frozen=True)
class HostRow:
    """One scrape target running `pulse-tui exporter`."""

    instance: str
    job: str
    scraped: bool  # Prometheus's `up`: the exporter answered the last scrape
    gateway: str  # health state of the gateway, "" when the exporter did not say
    kind: str = ""
    budget_left: float | None = None
    redis_up: bool | None = None
    persistence: bool | None = None
    sessions: dict[str, int] = field(default_factory=dict)  # state -> count
    findings: dict[str, int] = field(default_factory=dict)  # severity -> count

    @property
    def key(self) -> str:
        return f"{self.job}/{self.instance}"


@dataclass(frozen=True)
class FleetView:
    hosts: tuple[HostRow, ...]
    refresh_s: float  # the shortest scrape interval of the targets: no point asking more often


@dataclass(frozen=True)
class SessionRow:
    session: str
    state: str
    since: float | None
    since_first_seen: bool = False  # `since` is the exporter's first sight of it, not a change it saw


def _labels(r: dict[str, Any]) -> dict[str, str]:
    metric = r.get("metric")
    return {str(k): str(v) for k, v in metric.items()} if isinstance(metric, dict) else {}


def _value(r: dict[str, Any]) -> float | None:
    try:
        return float(r["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _duration(text: str) -> float | None:
    """Prometheus durations as /api/v1/targets gives them (`1s`, `15s`, `1m`, `1m30s`)."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text[i:i + 2] == "ms" else ch
        if unit not in units or not num:
            return None
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    return total if not num else None


class PrometheusReader:
    """Queries one Prometheus; `fleet()` and `sessions()` return values or a FleetFailure."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT_S)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        async with self._client.stream("GET", f"{self.url}{path}", params=params) as resp:
            body = b""
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > MAX_BODY:
                    raise ValueError(f"answer over {MAX_BODY // (1024 * 1024)} MiB")
            if resp.status_code != 200:
                raise ValueError(f"HTTP {resp.status_code}")
        doc = json.loads(body)
        if not isinstance(doc, dict) or doc.get("status") != "success":
            raise ValueError(str(doc.get("error", "not a Prometheus answer")) if isinstance(doc, dict)
                             else "not a Prometheus answer")
        return doc.get("data")

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """One instant query; the result vector (raises on failure: callers turn it into FleetFailure)."""
        data = await self._get("/api/v1/query", {"query": promql})
        result = data.get("result") if isinstance(data, dict) else None
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    async def fleet(self) -> FleetView | FleetFailure:
        """Every host whose exporter Prometheus scrapes, with its gateway, sessions by state and findings."""
        try:
            return await self._fleet()
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            return FleetFailure(f"Prometheus at {self.url} could not be read: {type(exc).__name__}: {exc}".rstrip(": "))

    async def _fleet(self) -> FleetView:
        jobs_q, health_q, info_q, sessions_q, findings_q, budget_q, redis_q, persist_q = await asyncio.gather(
            self.query("count by (job) (pulse_gateway_up)"),
            self.query("pulse_gateway_health == 1"),
            self.query("pulse_gateway_info"),
            self.query("pulse_sessions"),
            self.query("sum by (job, instance, severity) (pulse_findings)"),
            self.query("pulse_gateway_requests_remaining"),
            self.query("pulse_redis_up"),
            self.query("pulse_redis_persistence_enabled"),
        )
        jobs = sorted({_labels(r).get("job", "") for r in jobs_q})
        pattern = "|".join(_escape(j) for j in jobs)
        up_q = await self.query(f'up{{job=~"{pattern}"}}') if jobs else []

        def by_host(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[dict[str, str], float]]]:
            out: dict[tuple[str, str], list[tuple[dict[str, str], float]]] = {}
            for r in rows:
                labels, value = _labels(r), _value(r)
                if value is not None:
                    out.setdefault((labels.get("job", ""), labels.get("instance", "")), []).append((labels, value))
            return out

        up, health, info = by_host(up_q), by_host(health_q), by_host(info_q)
        sessions, findings = by_host(sessions_q), by_host(findings_q)
        budget, redis, persist = by_host(budget_q), by_host(redis_q), by_host(persist_q)
        hosts = []
        for job, instance in sorted(set(up) | set(health)):
            k = (job, instance)
            scraped = any(v == 1.0 for _, v in up.get(k, []))
            hosts.append(HostRow(
                instance=instance, job=job, scraped=scraped,
                gateway=next((lb.get("state", "") for lb, _ in health.get(k, [])), ""),
                kind=next((lb.get("kind", "") for lb, _ in info.get(k, [])), ""),
                budget_left=next((v for _, v in budget.get(k, [])), None),
                redis_up=next((v == 1.0 for _, v in redis.get(k, [])), None),
                persistence=next((v == 1.0 for _, v in persist.get(k, [])), None),
                sessions={lb.get("state", ""): int(v) for lb, v in sessions.get(k, [])},
                findings={lb.get("severity", ""): int(v) for lb, v in findings.get(k, []) if v > 0},
            ))
        return FleetView(tuple(hosts), await self._refresh_s(jobs))

    async def _refresh_s(self, jobs: Sequence[str]) -> float:
        try:
            data = await self._get("/api/v1/targets", {"state": "active"})
        except (httpx.HTTPError, ValueError):
            return DEFAULT_REFRESH_S
        targets = data.get("activeTargets", []) if isinstance(data, dict) else []
        found = [
            d for t in targets
            if isinstance(t, dict) and str((t.get("labels") or {}).get("job", "")) in jobs
            and (d := _duration(str(t.get("scrapeInterval", "")))) is not None
        ]
        return max(1.0, min(found)) if found else DEFAULT_REFRESH_S

    async def sessions(self, host: HostRow) -> list[SessionRow] | FleetFailure:
        """The WhatsApp connections of one host, as its exporter last reported them."""
        sel = f'job="{_escape_label(host.job)}",instance="{_escape_label(host.instance)}"'
        try:
            states, since, seen = await asyncio.gather(
                self.query(f"pulse_session_state{{{sel}}} == 1"),
                self.query(f"pulse_session_state_change_timestamp_seconds{{{sel}}}"),
                self.query(f"pulse_session_state_change_seen{{{sel}}} == 0"),
            )
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            return FleetFailure(f"Prometheus at {self.url} could not be read: {type(exc).__name__}: {exc}".rstrip(": "))
        when = {_labels(r).get("session", ""): _value(r) for r in since}
        first_seen = {_labels(r).get("session", "") for r in seen}  # absent (older exporters): a change seen
        rows = []
        for r in states:
            lb = _labels(r)
            sid = lb.get("session", "")
            rows.append(SessionRow(sid, lb.get("state", ""), when.get(sid), sid in first_seen))
        order = {s.value: i for i, s in enumerate(ConnState)}
        return sorted(rows, key=lambda s: (order.get(s.state, 99), s.session))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape(job: str) -> str:
    """A job name as a literal inside a PromQL regex within double quotes."""
    special = set(".^$*+?()[]{}|\\")
    return _escape_label("".join(f"\\{c}" if c in special else c for c in job))
