"""Doctor checks for WAHA and Evolution API as pure functions of the adapters' facts (and, for Evolution, the
server's own settings and recent events). Codes are stable and kebab-case, registered in `pulse_tui.findings`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from pulse_tui.doctor.checks_redis import examples
from pulse_tui.events import EventKind, SessionEvent
from pulse_tui.findings import REGISTRY
from pulse_tui.model import Finding, Severity, Snapshot
from pulse_tui.sources.gateway.base import GatewayFacts
from pulse_tui.sources.gateway.keys_from_env import EvolutionSettings

if TYPE_CHECKING:
    # Imported where a check runs: a host on another gateway (Salesboy, ~0.2 MiB) never loads these adapters.
    from pulse_tui.sources.gateway.evolution import EvolutionFacts
    from pulse_tui.sources.gateway.waha import WahaFacts

WAHA_QR_MAX = 6  # a QR lives 60 s, then 20 s each, 6 codes, then FAILED (waha#1799)
SILENT_AFTER_S = 30 * 60.0  # WORKING with no activity for this long is the known silent failure (waha#1931)
LOOP_WINDOW_S = 300.0
LOOP_EVENTS = 20  # connection.update events of one instance within LOOP_WINDOW_S that make a reconnect loop

# This module's codes (registered with the others in pulse_tui/findings.py): code -> (group, description)
CODES: dict[str, tuple[str, str]] = {code: (e.group, e.description) for code, e in REGISTRY.items()
                                     if code.startswith(("waha-", "evolution-"))}


def _exposure(loopback: bool) -> Severity:
    return Severity.WARNING if loopback else Severity.CRITICAL


def check_waha(facts: WahaFacts, now: float, *, silent_after_s: float = SILENT_AFTER_S,
               qr_max: int = WAHA_QR_MAX) -> list[Finding]:
    """WAHA: open API, keys in /api/server/environment, Core's single session, FAILED, QR codes, silence."""
    out: list[Finding] = []
    server = facts.server
    where = f"WAHA at {facts.url}"
    reach = "" if facts.loopback else ", and pulse-tui reaches it beyond loopback"
    if server is not None and server.key_enforced is False:
        out.append(Finding(_exposure(facts.loopback), "waha-no-api-key",
                           f"The {where} answers without checking any API key{reach}.",
                           "Upgrade WAHA (2024.10.8 Core enforces no key), set WAHA_API_KEY, and keep port 3000 "
                           "bound to 127.0.0.1 or behind a firewall."))
    elif server is not None and not facts.api_key_set and server.key_enforced is None:
        out.append(Finding(Severity.INFO, "waha-no-api-key", f"pulse-tui has no API key for the {where}.",
                           "Give pulse-tui WAHA's .env (WAHA_API_KEY or WHATSAPP_API_KEY)."))
    if server is not None and server.environment_shows_keys:
        out.append(Finding(_exposure(facts.loopback), "waha-environment-exposes-keys",
                           f"The {where} returns its API key variables from GET /api/server/environment{reach}.",
                           "Anyone who reaches the port can read the key: upgrade WAHA and firewall the port."))
    if server is not None and server.single_default:
        out.append(Finding(Severity.INFO, "waha-core-single-session",
                           f"The {where} is Core {server.version}: only the 'default' session can run.",
                           "Other names get 422; WAHA 2026.6.1 and later run many sessions in Core."))
    failed = [s.name for s in facts.sessions if s.status == "FAILED"]
    if failed:
        out.append(Finding(Severity.WARNING, "waha-session-failed",
                           f"{len(failed)} WAHA session(s) FAILED.",
                           "The phone unlinked it, the auth failed or its 6 QR codes ran out: start it (or log it "
                           "out) and scan the new QR.", examples(failed)))
    low = sorted(n for n, c in (facts.qr_codes_seen or {}).items() if qr_max - 1 <= c and n not in failed)
    if low:
        out.append(Finding(Severity.WARNING, "waha-qr-running-out",
                           f"{len(low)} WAHA session(s) showed {qr_max - 1}+ of their {qr_max} QR codes.", "Scan now, or the session goes FAILED and needs a new start.",
                           examples(low)))
    silent = [s.name for s in facts.sessions
              if s.status == "WORKING" and s.activity_ms is not None and now - s.activity_ms / 1000.0 > silent_after_s]
    if silent:
        out.append(Finding(Severity.WARNING, "waha-working-silent",
                           f"{len(silent)} WAHA session(s) WORKING with no activity for {silent_after_s / 60:.0f}+ "
                           f"minutes.",
                           "A known WAHA failure (waha#1931): it looks connected but receives nothing; restart it.",
                           examples(silent)))
    return out


def check_evolution(facts: EvolutionFacts, settings: EvolutionSettings | None = None,
                    events: Sequence[SessionEvent] = (), now: float | None = None, *,
                    loopback: bool = True, loop_window_s: float = LOOP_WINDOW_S,
                    loop_events: int = LOOP_EVENTS) -> list[Finding]:
    """Evolution: default key, DEL_INSTANCE, QR limit, database vs memory, reconnect loops, close codes."""
    from pulse_tui.sources.gateway.evolution import is_transient, reason_text

    out: list[Finding] = []
    where = f"Evolution at {facts.url}"
    if facts.key_is_default or (settings is not None and settings.key_is_default):
        out.append(Finding(_exposure(loopback), "evolution-default-key",
                           f"The {where} uses Evolution's public default key (AUTHENTICATION_API_KEY=BQYHJGJHJ "
                           "or unset).", "Set AUTHENTICATION_API_KEY to a long random value and restart Evolution."))
    rows = facts.instances
    if settings is not None and settings.del_instance_min is not None:
        at_risk = [r.name for r in rows if (r.memory_state or r.db_state) != "open"]
        tail = f"; {len(at_risk)} not open now" if at_risk else ""
        out.append(Finding(Severity.WARNING, "evolution-del-instance",
                           f"DEL_INSTANCE={settings.del_instance_min:g}: Evolution deletes instances that are not "
                           f"open after that many minutes{tail}.",
                           "Set DEL_INSTANCE=false unless you want closed instances to vanish.", examples(at_risk)))
    limited = {r.name for r in rows if r.memory_state == "close" and r.db_state == "connecting"}
    limited |= {e.session_id for e in events if e.kind == EventKind.QR_LIMIT}
    if limited:
        names = sorted(limited)
        limit = f" ({settings.qrcode_limit} codes)" if settings is not None else ""
        out.append(Finding(Severity.WARNING, "evolution-qr-limit-reached",
                           f"{len(names)} Evolution instance(s) reached QRCODE_LIMIT{limit} and were refused.",
                           "Start (connect) it again when someone can scan; a dashboard polling `connect` restarts "
                           "it by itself.", examples(names)))
    mismatch = sorted(r.name for r in rows if r.memory_state is not None and r.memory_state != r.db_state
                      and r.name not in limited)
    if mismatch:
        out.append(Finding(Severity.WARNING, "evolution-state-mismatch",
                           f"{len(mismatch)} Evolution instance(s) where the database and memory disagree.",
                           "The Manager shows the database: trust connectionState; a restart of the instance "
                           "re-syncs the row.", examples(mismatch)))
    out.extend(_loops(events, now, loop_window_s, loop_events))
    logged_out = sorted(r.name for r in rows if r.disconnection_code == 401 and r.db_state != "open")
    if logged_out:
        out.append(Finding(Severity.WARNING, "evolution-logged-out",
                           f"{len(logged_out)} Evolution instance(s) closed with 401 (logged out).",
                           "Only a new QR scan (or pairing code) brings it back: start it when the phone is at hand.",
                           examples(logged_out)))
    transient = sorted(r.name for r in rows if is_transient(r.disconnection_code) and r.db_state != "open")
    if transient:
        codes = sorted({str(r.disconnection_code) for r in rows if r.name in transient})
        out.append(Finding(Severity.INFO, "evolution-transient-close",
                           f"{len(transient)} Evolution instance(s) last closed with {'/'.join(codes)} "
                           f"({reason_text(int(codes[0]))}).",
                           "Evolution reconnects by itself; act only if it stays closed.", examples(transient)))
    return out


def _loops(events: Iterable[SessionEvent], now: float | None, window_s: float, threshold: int) -> list[Finding]:
    evs = [e for e in events if e.kind == EventKind.STATE and e.word.startswith("connection.update")]
    if not evs:
        return []
    end = now if now is not None else max(e.at for e in evs)
    counts = Counter(e.session_id for e in evs if end - e.at <= window_s)
    loops = sorted(n for n, c in counts.items() if c >= threshold)
    if not loops:
        return []
    worst = max(counts[n] for n in loops)
    return [Finding(Severity.WARNING, "evolution-reconnect-loop",
                    f"{len(loops)} Evolution instance(s) changed connection state {worst}+ times in "
                    f"{window_s / 60:.0f} minutes.",
                    "A restart loop (Evolution #765): look for two servers on one database, a bad proxy, or a "
                    "session the phone keeps rejecting; log it out and link again.", examples(loops))]


class FactSource(Protocol):
    """The two members of a gateway adapter these checks read."""

    def facts(self) -> GatewayFacts | None: ...
    async def learn_facts(self) -> None: ...


RecentEvents = Callable[[], Sequence[SessionEvent]]


def fact_findings(gateway: FactSource, settings: EvolutionSettings | None, now: float,
                  events: Sequence[SessionEvent] = ()) -> list[Finding]:
    """The WAHA or Evolution checks over what the adapter has learned so far (no request of its own); [] for a
    gateway that has no facts of its own."""
    facts = gateway.facts()
    if facts is None:
        return []
    from pulse_tui.sources.gateway.evolution import EvolutionFacts
    from pulse_tui.sources.gateway.waha import WahaFacts, is_loopback_url

    if isinstance(facts, WahaFacts):
        return check_waha(facts, now)
    if isinstance(facts, EvolutionFacts):
        return check_evolution(facts, settings, events, now, loopback=is_loopback_url(facts.url))
    return []


def gateway_checks(gateway: FactSource, settings: EvolutionSettings | None,
                   recent: RecentEvents | None = None) -> Callable[[Snapshot], list[Finding]]:
    """An extra check for the monitor's findings hook: the gateway's own checks over each new snapshot, with the
    engine's recent events (`recent`) for the checks that count them (Evolution's reconnect loops)."""

    def check(snapshot: Snapshot) -> list[Finding]:
        return fact_findings(gateway, settings, snapshot.taken_at, recent() if recent is not None else ())

    return check


async def gateway_fact_findings(gateway: FactSource, settings: EvolutionSettings | None, now: float,
                                events: Sequence[SessionEvent] = ()) -> list[Finding]:
    """The WAHA or Evolution checks over what the adapter learned in the poll, after it learned what no poll
    brought yet (WAHA's probe); [] for a gateway that has no facts of its own."""
    await gateway.learn_facts()  # its failure is already the gateway's state: the checks then say what they can
    return fact_findings(gateway, settings, now, events)
