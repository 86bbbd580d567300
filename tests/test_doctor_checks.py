"""Each doctor check triggered and not triggered: config checks directly, the rest through a real Monitor
polling a real redis-server (seeded in Pulse's format) and the gateway simulator over HTTP."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pulse_tui.config import Config, GatewayKind
from pulse_tui.doctor.checks import CODES, GROUP_OF, check_logs, findings_for, group_of
from pulse_tui.doctor.checks_keys import check_api_key, check_env_files, check_redis_password, check_secrets
from pulse_tui.doctor.checks_redis import check_persistence
from pulse_tui.model import Finding, Persistence, RedisReport, Severity, Snapshot
from pulse_tui.monitor.build import build_targets
from pulse_tui.sim.gateway import Fault, GatewaySim, PulseSim
from pulse_tui.sim.redis_server import RedisServer, free_port
from pulse_tui.sim.seeder import SeedManifest, seed_bulk, seed_demo

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
OTHER = {"JWT_SECRET": "a1" * 32, "SESSION_SECRET": "b2" * 32, "WEBHOOK_SECRET": "c3" * 32}
API_KEY = "salesboy-doctor-key-4242"
UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "0b9e8f1c-1111-4222-8333-444455556666"
FAST = dict(start_delay_s=0.05, qr_interval_s=0.3, ready_delay_s=0.05, restore_interval_s=0.05)
NOW = 1_790_000_000.0


def good_config(**kw: object) -> Config:
    base: dict[str, object] = dict(encryption_key=KEY, encryption_salt=SALT, hash_salt=HASH_SALT,
                                   other_secrets=dict(OTHER))
    base.update(kw)
    return Config(**base)  # type: ignore[arg-type]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def by_code(findings: list[Finding], code: str) -> Finding:
    return next(f for f in findings if f.code == code)


def assert_no_secret(findings: list[Finding], *secrets: str) -> None:
    for f in findings:
        text = " ".join([f.message, f.hint, *f.subjects])
        for s in secrets:
            assert s not in text, f.code


# --- codes -------------------------------------------------------------------------------------------


def test_codes_are_kebab_case_documented_and_grouped() -> None:
    for code, desc in CODES.items():
        assert code == code.lower() and " " not in code and "_" not in code
        assert desc and "\n" not in desc
        assert GROUP_OF[code] in ("keys", "redis", "gateway", "sessions", "host", "logs")
    assert group_of("pm2-app-down") == "host" and group_of("browser-stale-lock") == "host"


# --- secrets (config only) ------------------------------------------------------------------------------


def test_good_secrets_give_no_finding() -> None:
    assert check_secrets(good_config(redis_url="redis://127.0.0.1:1/0")) == []


def test_salesboy_only_config_skips_pulse_secrets() -> None:
    assert check_secrets(Config()) == []


@pytest.mark.parametrize(
    ("change", "code", "severity"),
    [
        ({"encryption_key": None}, "secret-unset", Severity.WARNING),  # Pulse runs, on its default key
        ({"encryption_key": "twenty-chars-key-xyz"}, "encryption-key-too-short", Severity.WARNING),
        ({"encryption_key": "your_encryption_key_here_min_32_chars_required"}, "secret-known-value",
         Severity.CRITICAL),
        ({"encryption_key": "<your-generated-key>"}, "secret-known-value", Severity.CRITICAL),
        ({"encryption_key": "pulse-default-encryption-key-32-chars-minimum!!"}, "secret-known-value",
         Severity.CRITICAL),
        ({"encryption_salt": "your_encryption_salt_here_min_16_chars"}, "secret-known-value", Severity.WARNING),
        ({"hash_salt": None}, "secret-unset", Severity.WARNING),
        ({"hash_salt": "short"}, "secret-too-short", Severity.WARNING),
        ({"other_secrets": {**OTHER, "JWT_SECRET": "<your-generated-jwt-secret>"}}, "secret-known-value",
         Severity.CRITICAL),
        ({"other_secrets": {**OTHER, "WEBHOOK_SECRET": ""}}, "secret-unset", Severity.WARNING),
        ({"other_secrets": {**OTHER, "SESSION_SECRET": OTHER["JWT_SECRET"]}}, "secret-duplicated",
         Severity.WARNING),
    ],
)
def test_each_secret_problem(change: dict[str, object], code: str, severity: Severity) -> None:
    config = good_config(redis_url="redis://127.0.0.1:1/0", **change)
    found = check_secrets(config)
    assert code in codes(found)
    assert by_code(found, code).severity == severity
    secrets = [v for v in change.values() if isinstance(v, str) and v]
    secrets += [v for d in change.values() if isinstance(d, dict) for v in d.values() if v]
    assert_no_secret(found, *secrets, KEY, SALT, HASH_SALT)


def test_env_file_mode(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"ENCRYPTION_KEY={KEY}\n")
    env.chmod(0o644)
    found = check_env_files([env])
    assert codes(found) == {"env-file-permissions"}
    assert "644" in found[0].message and str(env) in found[0].subjects
    env.chmod(0o600)
    assert check_env_files([env]) == []
    env.chmod(0o400)
    assert check_env_files([env]) == []


def test_salesboy_placeholder_api_key() -> None:
    assert codes(check_api_key(Config(api_key="your-secret-key"))) == {"gateway-api-key-placeholder"}
    assert check_api_key(Config(api_key=API_KEY)) == []
    assert check_api_key(Config()) == []


def test_pulse_example_redis_password() -> None:
    found = check_redis_password(Config(redis_url="redis://:flash_redis_secure_pass@127.0.0.1:6379/0"))
    assert codes(found) == {"redis-password-placeholder"}
    assert_no_secret(found, "flash_redis_secure_pass")
    assert check_redis_password(Config(redis_url="redis://:s3cret-pw-123@127.0.0.1:6379/0")) == []


# --- logs (plain strings) --------------------------------------------------------------------------------

ELEVEN_401 = "2025-01-01 10:00:00 +00:00: [Nest] ERROR [TtsService] ElevenLabs TTS failed: Request failed with status code 401"


def test_elevenlabs_401_with_key_set() -> None:
    config = good_config(other_secrets={**OTHER, "ELEVENLABS_API_KEY": "sk_wrong_eleven_key_123"})
    found = check_logs(["all good", ELEVEN_401], config)
    assert codes(found) == {"elevenlabs-unauthorized"}
    assert "ELEVENLABS_API_KEY=" in found[0].hint and "fall" in found[0].hint  # the seed's advice
    assert_no_secret(found, "sk_wrong_eleven_key_123")
    assert check_logs(["all good"], config) == []  # no 401 line
    assert check_logs([ELEVEN_401], good_config()) == []  # key unset: Pulse already uses the fallback


def test_decryption_failed_lines() -> None:
    sid = "5f2b" * 8
    lines = [f"[RedisService] Failed to get encrypted value for key session:{sid}:",
             "Error: Decryption failed: Unsupported state or unable to authenticate data"]
    found = check_logs(lines, good_config())
    assert codes(found) == {"log-decryption-failed"}
    assert found[0].severity == Severity.CRITICAL and found[0].subjects == (sid,)
    assert check_logs(["[RedisService] connected"], good_config()) == []


def test_persistence_last_save_failed() -> None:
    # Making a real redis-server fail its saves needs a full disk; the report shape is what the check reads.
    bad = RedisReport(available=True, persistence=Persistence("3600 1", "yes", True, rdb_last_bgsave_status="err"))
    assert codes(check_persistence(bad)) == {"redis-last-save-failed"}
    ok = RedisReport(available=True, persistence=Persistence("3600 1", "yes", True, rdb_last_bgsave_status="ok"))
    assert check_persistence(ok) == []


# --- through the monitor: real Redis and the simulator ----------------------------------------------------


@pytest.fixture
def auth_root(tmp_path: Path) -> Path:
    root = tmp_path / ".wwebjs_auth"
    root.mkdir()
    return root


@pytest.fixture
def make_sim(auth_root: Path) -> Iterator[Callable[..., GatewaySim]]:
    sims: list[GatewaySim] = []

    def make(cls: type[GatewaySim] = GatewaySim, **kw: object) -> GatewaySim:
        opts: dict[str, object] = {**FAST, "api_key": API_KEY}
        opts.update(kw)
        sim = cls(auth_root, **opts)  # type: ignore[arg-type]
        sims.append(sim)
        sim.start()
        return sim

    yield make
    for s in sims:
        s.stop()


async def snapshot(config: Config, until: Callable[[Snapshot], bool] = lambda s: True,
                   log_lines: Callable[[], list[str]] = list) -> Snapshot:
    """Poll a real monitor (with the doctor's hook) until `until` holds; the last snapshot."""
    targets = build_targets(config, findings=findings_for(config, log_lines=log_lines))
    try:
        deadline = time.monotonic() + 10
        while True:
            snap = await targets.monitor.poll(full=True)
            if until(snap) or time.monotonic() > deadline:
                return snap
            await asyncio.sleep(0.05)
    finally:
        await targets.aclose()


def snap_codes(snap: Snapshot) -> set[str]:
    return {f.code for f in snap.findings}


@pytest.fixture
def seeded(redis_url: str) -> SeedManifest:
    return seed_demo(redis_url, KEY, SALT, HASH_SALT, now=NOW)


async def test_seeded_redis_findings(redis_url: str, seeded: SeedManifest, make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    config = good_config(gateway_url=sim.url, api_key=API_KEY, redis_url=redis_url)
    snap = await snapshot(config)
    found = list(snap.findings)
    got = snap_codes(snap)
    assert {"sessions-undecryptable", "sessions-default-key", "sessions-plain-json", "sessions-corrupt",
            "sessions-orphan", "index-dangling", "index-hash-salt-mismatch", "redis-persistence-off"} <= got
    undecryptable = by_code(found, "sessions-undecryptable")
    assert undecryptable.severity == Severity.CRITICAL
    assert seeded.by_name("wrong-key")[0] in undecryptable.subjects
    default = by_code(found, "sessions-default-key")
    assert default.severity == Severity.CRITICAL  # a configured key is in use: Pulse cannot read these
    assert default.subjects == (seeded.by_name("default-key")[0],)
    assert by_code(found, "index-dangling").severity == Severity.INFO  # normal after logouts
    assert list(seeded.dangling_index)[0] in by_code(found, "index-dangling").subjects
    assert by_code(found, "sessions-orphan").subjects == (seeded.by_name("orphan")[0],)
    assert by_code(found, "sessions-plain-json").subjects == (seeded.by_name("plain")[0],)
    for f in found:
        assert len(f.subjects) <= 3
    assert "redis-unreachable" not in got and "gateway-down" not in got
    assert_no_secret(found, KEY, SALT, HASH_SALT, API_KEY, seeded.fake_token, *OTHER.values())


async def test_default_key_sessions_when_no_key_is_configured(redis_url: str,
                                                              make_sim: Callable[..., GatewaySim]) -> None:
    seed_bulk(redis_url, 3, None, None, None)  # Pulse ran without ENCRYPTION_KEY: default key
    sim = make_sim()
    config = Config(gateway_url=sim.url, api_key=API_KEY, redis_url=redis_url)
    snap = await snapshot(config)
    default = by_code(list(snap.findings), "sessions-default-key")
    assert default.severity == Severity.WARNING  # readable by Pulse, but with a public key
    assert "--from-default" in default.hint
    assert by_code(list(snap.findings), "secret-unset").severity == Severity.WARNING  # Pulse runs (default key)


async def test_clean_persistent_redis_has_no_redis_or_key_findings(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    with RedisServer(persistent=True) as srv:
        seed_bulk(srv.url, 5, KEY, SALT, HASH_SALT)
        config = good_config(gateway_url=sim.url, api_key=API_KEY, redis_url=srv.url)
        snap = await snapshot(config)
    assert snap.redis is not None and len(snap.redis.sessions) == 5
    assert snap.findings == ()


async def test_redis_unreachable(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    config = good_config(gateway_url=sim.url, api_key=API_KEY, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    found = list((await snapshot(config)).findings)
    assert by_code(found, "redis-unreachable").severity == Severity.CRITICAL
    assert "redis-persistence-off" not in codes(found)


async def test_redis_auth_failed(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    with RedisServer(password="right-redis-pw-1") as srv:
        wrong = f"redis://:wrong-redis-pw-2@127.0.0.1:{srv.port}/0"
        found = list((await snapshot(good_config(gateway_url=sim.url, api_key=API_KEY, redis_url=wrong))).findings)
    assert by_code(found, "redis-auth-failed").severity == Severity.CRITICAL
    assert_no_secret(found, "wrong-redis-pw-2", "right-redis-pw-1")


@pytest.mark.parametrize(
    ("fault", "code", "severity"),
    [(Fault.DOWN, "gateway-down", Severity.CRITICAL), (Fault.RATE_LIMITED, "gateway-rate-limited", Severity.WARNING),
     (Fault.ERROR_500, "gateway-error", Severity.CRITICAL)],
)
async def test_gateway_faults(make_sim: Callable[..., GatewaySim], fault: Fault, code: str,
                              severity: Severity) -> None:
    sim = make_sim()
    sim.set_fault(fault)
    found = list((await snapshot(Config(gateway_url=sim.url, api_key=API_KEY))).findings)
    assert by_code(found, code).severity == severity


async def test_gateway_wrong_api_key_is_401(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    found = list((await snapshot(Config(gateway_url=sim.url, api_key="not-the-gateway-key"))).findings)
    f = by_code(found, "gateway-unauthorized")
    assert f.severity == Severity.CRITICAL and "API_SECRET_KEY" in f.hint
    assert_no_secret(found, "not-the-gateway-key", API_KEY)


async def test_gateway_ok_gives_no_gateway_finding(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    found = (await snapshot(Config(gateway_url=sim.url, api_key=API_KEY))).findings
    assert not {f.code for f in found if group_of(f.code) == "gateway"}


def _auth_dir(root: Path, name: str) -> None:
    (root / f"session-{name}" / "Default" / "Local Storage" / "leveldb").mkdir(parents=True)


def _connected(sid: str) -> Callable[[Snapshot], bool]:
    return lambda s: (v := s.session(sid)) is not None and v.state.value == "connected"


async def test_connected_session_without_auth_dir_will_not_survive(
    auth_root: Path, make_sim: Callable[..., GatewaySim]
) -> None:
    _auth_dir(auth_root, UID)
    sim = make_sim()  # restores UID at boot: connected
    # pulse-tui is not told where the auth dirs are: from its point of view the session has none on disk
    config = Config(gateway_url=sim.url, api_key=API_KEY, extra_sessions=(UID,))
    snap = await snapshot(config, until=_connected(UID))
    assert {"sessions-will-not-survive-restart", "sessions-no-auth-dir"} <= snap_codes(snap)
    assert by_code(list(snap.findings), "sessions-no-auth-dir").subjects == (UID,)
    # told where they are, the same session is fine
    config = replace(config, auth_dirs=(auth_root,))
    snap = await snapshot(config, until=_connected(UID))
    assert not {"sessions-will-not-survive-restart", "sessions-no-auth-dir"} & snap_codes(snap)


async def test_auth_dirs_never_restored_and_without_session(auth_root: Path,
                                                            make_sim: Callable[..., GatewaySim]) -> None:
    _auth_dir(auth_root, "current-user")  # the seed's own example dir: never restored
    _auth_dir(auth_root, UID2)
    sim = make_sim(restore_on_boot=False)
    config = Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(auth_root,))
    snap = await snapshot(config, until=lambda s: (v := s.session(UID2)) is not None and v.state.value == "restorable")
    found = list(snap.findings)
    assert by_code(found, "auth-dir-never-restored").subjects == ("current-user",)
    assert by_code(found, "auth-dir-without-session").subjects == (UID2,)


async def test_no_session_findings_when_nothing_is_wrong(auth_root: Path, make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    snap = await snapshot(Config(gateway_url=sim.url, api_key=API_KEY, auth_dirs=(auth_root,)))
    assert not {f.code for f in snap.findings if group_of(f.code) == "sessions"}


async def test_pulse_logs_out_on_shutdown(tmp_path: Path) -> None:
    phone = "18765550001"
    sim = PulseSim(tmp_path / "whatsapp-sessions", phones=(phone,), auto_scan_s=0.05, **FAST)  # type: ignore[arg-type]
    sim.start()
    try:
        config = Config(gateway_kind=GatewayKind.PULSE, gateway_url=sim.url)
        snap = await snapshot(config, until=_connected(phone))
    finally:
        sim.stop()
    assert {"pulse-logout-on-shutdown", "sessions-will-not-survive-restart"} <= snap_codes(snap)


async def test_hook_reads_log_lines_each_poll(make_sim: Callable[..., GatewaySim]) -> None:
    sim = make_sim()
    config = Config(gateway_url=sim.url, api_key=API_KEY, other_secrets={"ELEVENLABS_API_KEY": "sk_live_wrong_0001"})
    snap = await snapshot(config, log_lines=lambda: [ELEVEN_401])
    assert "elevenlabs-unauthorized" in snap_codes(snap)
    assert_no_secret(list(snap.findings), "sk_live_wrong_0001")


def test_env_files_through_the_hook(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("X=1\n")
    os.chmod(env, 0o640)
    config = Config(env_files=(env,))
    snap_cfg = findings_for(config)
    from pulse_tui.model import GatewayHealth, HealthState, KeysStatus

    snap = Snapshot(taken_at=NOW, gateway_kind="salesboy", gateway_url="http://127.0.0.1:1",
                    gateway=GatewayHealth(HealthState.OK), sessions=(), redis=None, keys=KeysStatus("unknown"))
    assert codes(snap_cfg(snap)) == {"env-file-permissions"}
    os.chmod(env, 0o600)
    assert snap_cfg(snap) == []
