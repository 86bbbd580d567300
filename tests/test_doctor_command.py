"""`pulse-tui doctor`: exit codes, the text report, JSON without secrets, and "could not check"."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pulse_tui.config import Config
from pulse_tui.doctor import command as doctor_command
from pulse_tui.doctor import options as doctor_options
from pulse_tui.doctor.checks import findings_for
from pulse_tui.doctor.report import exit_code, render_report, report_json
from pulse_tui.model import Finding, Severity
from pulse_tui.monitor.build import build_targets
from pulse_tui.sim.gateway import Fault, GatewaySim
from pulse_tui.sim.redis_server import RedisServer
from pulse_tui.sim.seeder import seed_bulk, seed_demo

KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
HASH_SALT = "c0ffeec0ffeec0ffeec0ffeec0ffee00"
OTHER = {"JWT_SECRET": "a1" * 32, "SESSION_SECRET": "b2" * 32, "WEBHOOK_SECRET": "c3" * 32,
         "ELEVENLABS_API_KEY": "sk_eleven_doctor_0001"}
API_KEY = "salesboy-doctor-key-4242"
FAST = dict(start_delay_s=0.05, qr_interval_s=0.3, ready_delay_s=0.05, restore_interval_s=0.05)

W = Finding(Severity.WARNING, "redis-persistence-off", "persistence off", "turn it on")
C = Finding(Severity.CRITICAL, "gateway-down", "gateway down", "start it")
I = Finding(Severity.INFO, "index-dangling", "dangling", "normal", ("whatsapp:abc",))  # noqa: E741
U = Finding(Severity.UNKNOWN, "browser-lock-unreadable", "lock unreadable", "")


def test_exit_codes() -> None:
    assert exit_code([], True) == 0
    assert exit_code([I], True) == 0
    assert exit_code([I, W], True) == 1
    assert exit_code([W, C, I], True) == 2
    assert exit_code([U], True) == 1  # one unreadable thing is not "could not check"
    assert exit_code([U, C], True) == 2
    assert exit_code([], False) == 3
    assert exit_code([C], False) == 3


def test_report_groups_glyphs_words_and_hints() -> None:
    text = render_report([C, W, I], checked=("keys", "redis", "gateway"))
    assert "✖ critical" in text and "▲ warning" in text and "● info" in text
    assert text.index("Keys") < text.index("Redis") < text.index("Gateway")
    assert "Keys  [✔ ok]" in text and "no problems found" in text  # checked, nothing found
    assert "Sessions" not in text  # not checked: not claimed to be ok
    assert "→ start it" in text and "e.g. whatsapp:abc" in text
    assert "Result: ✖ critical (1 critical, 1 warning, 1 info)" in text
    ascii_text = render_report([C, W, I], ascii=True, checked=("keys",))
    assert ascii_text.isascii()
    assert "X critical" in ascii_text and "! warning" in ascii_text and "+ ok" in ascii_text


def test_report_json_shape() -> None:
    doc = report_json([C, I], checked=("keys", "gateway"))
    assert doc["status"] == "critical" and doc["exit_code"] == 2 and doc["could_check"] is True
    assert doc["groups"] == {"keys": "ok", "redis": "ok", "gateway": "critical"}
    assert doc["findings"][0]["code"] == "gateway-down" and doc["findings"][0]["group"] == "gateway"
    assert doc["findings"][0]["description"]
    json.dumps(doc)


# --- the command over a real monitor -------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GatewaySim]:
    s = GatewaySim(tmp_path / ".wwebjs_auth", api_key=API_KEY, **FAST)  # type: ignore[arg-type]
    s.start()
    yield s
    s.stop()


def _config(sim: GatewaySim, redis_url: str, tmp_path: Path, **kw: object) -> Config:
    env = tmp_path / "pulse.env"
    env.write_text("# the file the config was read from\n")
    env.chmod(0o600)
    base: dict[str, object] = dict(gateway_url=sim.url, api_key=API_KEY, redis_url=redis_url, encryption_key=KEY,
                                   encryption_salt=SALT, hash_salt=HASH_SALT, other_secrets=dict(OTHER),
                                   env_files=(env,))
    base.update(kw)
    return Config(**base)  # type: ignore[arg-type]


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    doctor_options.add_arguments(p)
    return p.parse_args(list(argv))


async def _run(config: Config, *argv: str) -> tuple[int, str]:
    targets = build_targets(config, findings=findings_for(config))
    out = io.StringIO()
    try:
        code = await doctor_command.run(config, targets, _args(*argv), out=out)
    finally:
        await targets.aclose()
    return code, out.getvalue()


async def test_healthy_setup_exits_0(sim: GatewaySim, tmp_path: Path) -> None:
    with RedisServer(persistent=True) as srv:
        seed_bulk(srv.url, 4, KEY, SALT, HASH_SALT)
        code, text = await _run(_config(sim, srv.url, tmp_path))
    assert code == 0, text
    assert "Result: ✔ ok (0 critical, 0 warning, 0 info)" in text
    for group in ("Keys", "Redis", "Gateway", "Sessions", "Host"):
        assert f"{group}  [✔ ok]" in text


async def test_warning_exits_1(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    seed_bulk(redis_url, 2, KEY, SALT, HASH_SALT)  # the test redis-server has no persistence: a warning only
    code, text = await _run(_config(sim, redis_url, tmp_path))
    assert code == 1, text
    assert "▲ warning" in text and "redis-persistence-off" in text


async def test_seeded_problems_exit_2_and_json_has_no_secret(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    manifest = seed_demo(redis_url, KEY, SALT, HASH_SALT, now=1_790_000_000.0)
    config = _config(sim, redis_url, tmp_path)
    code, text = await _run(config, "--json")
    assert code == 2
    doc = json.loads(text)
    assert doc["exit_code"] == 2 and doc["status"] == "critical"
    got = {f["code"] for f in doc["findings"]}
    assert {"sessions-undecryptable", "sessions-default-key", "redis-persistence-off"} <= got
    for secret in [*config.secret_values(), KEY, SALT, HASH_SALT, API_KEY, *OTHER.values(), manifest.fake_token]:
        assert secret not in text
    # the text report too
    code, text = await _run(config)
    assert code == 2
    for secret in [*config.secret_values(), manifest.fake_token]:
        assert secret not in text


async def test_a_down_source_is_critical_not_unknown(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    sim.set_fault(Fault.DOWN)
    code, text = await _run(_config(sim, redis_url, tmp_path))
    assert code == 2 and "gateway-down" in text


async def test_a_hung_gateway_still_gives_the_redis_and_key_checks(
    sim: GatewaySim, redis_url: str, tmp_path: Path
) -> None:
    seed_bulk(redis_url, 2, KEY, SALT, HASH_SALT)
    sim.set_fault(Fault.SLOW, slow_s=5.0)  # the poll outlives the doctor's own deadline
    code, text = await _run(_config(sim, redis_url, tmp_path), "--json", "--timeout", "0.2")
    doc = json.loads(text)
    got = {f["code"] for f in doc["findings"]}
    assert "gateway-could-not-check" in got
    assert "redis-persistence-off" in got  # the Redis checks ran without the gateway
    assert doc["could_check"] is True and doc["redis"] == {"available": True}
    assert doc["groups"]["gateway"] == "warning" and "redis" in doc["groups"] and "keys" in doc["groups"]
    assert code == 1 == doc["exit_code"]  # persistence off and an unchecked gateway: warnings, never 3
    code, text = await _run(_config(sim, redis_url, tmp_path), "--timeout", "0.2")
    assert code == 1 and "could not be polled" in text and "Redis  [" in text and "2 user session(s)" in text


async def test_checks_that_cannot_run_exit_3(sim: GatewaySim, tmp_path: Path) -> None:
    sim.set_fault(Fault.SLOW, slow_s=5.0)
    config = replace(_config(sim, "", tmp_path), redis_url=None)  # no Redis: the gateway was the only source
    code, text = await _run(config, "--json", "--timeout", "0.2")
    assert code == 3
    doc = json.loads(text)
    assert doc["could_check"] is False and doc["exit_code"] == 3 and doc["status"] == "unknown"
    assert "error" in doc
    code, text = await _run(config, "--timeout", "0.2")
    assert code == 3 and "could not run" in text


def test_doctor_and_keys_do_not_import_textual() -> None:
    import subprocess
    import sys

    code = ("import sys; import pulse_tui.doctor.command, pulse_tui.keys.command; "
            "sys.exit(1 if any(m == 'textual' or m.startswith('textual.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1]).returncode == 0


async def test_a_poll_that_raises_still_gives_the_redis_checks(
    sim: GatewaySim, redis_url: str, tmp_path: Path
) -> None:
    seed_bulk(redis_url, 3, KEY, SALT, HASH_SALT)
    config = _config(sim, redis_url, tmp_path)

    def broken_hook(snap: object) -> list[Finding]:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    targets = build_targets(config, findings=broken_hook)
    out = io.StringIO()
    try:
        code = await doctor_command.run(config, targets, _args("--json"), out=out)
    finally:
        await targets.aclose()
    doc = json.loads(out.getvalue())
    codes = {f["code"] for f in doc["findings"]}
    assert code == doc["exit_code"] == 1 and doc["could_check"] is True
    # The monitor contains the hook's failure as a finding of its own; the poll and the Redis checks go on.
    assert {"checks-failed", "redis-persistence-off"} <= codes


async def test_a_poll_that_raises_falls_back_to_redis_alone(sim: GatewaySim, redis_url: str, tmp_path: Path) -> None:
    seed_bulk(redis_url, 3, KEY, SALT, HASH_SALT)
    config = _config(sim, redis_url, tmp_path)
    targets = build_targets(config)

    async def raising_poll(*, full: bool = False) -> object:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    targets.monitor.poll = raising_poll  # type: ignore[method-assign,assignment]  # our own code failing, not a peer
    out = io.StringIO()
    try:
        code = await doctor_command.run(config, targets, _args("--json"), out=out)
    finally:
        await targets.aclose()
    doc = json.loads(out.getvalue())
    codes = {f["code"] for f in doc["findings"]}
    assert code == doc["exit_code"] == 1 and doc["could_check"] is True
    assert {"gateway-could-not-check", "redis-persistence-off"} <= codes
    assert "RecursionError" in doc["error"] and doc["redis"] == {"available": True}


def test_one_failing_check_group_costs_only_that_group() -> None:
    from pulse_tui.doctor.checks import run_checks
    from pulse_tui.model import GatewayHealth, HealthState, KeysStatus, RedisReport, Snapshot

    config = Config(encryption_key="short", gateway_url="http://127.0.0.1:9")
    snap = Snapshot(0.0, "salesboy", "http://127.0.0.1:9", GatewayHealth(HealthState.DOWN, detail="refused"), (),
                    RedisReport(available=True, persistence="not a Persistence"),  # type: ignore[arg-type]
                    KeysStatus("unknown"))

    def broken_extra(s: Snapshot) -> list[Finding]:
        raise OverflowError("cannot convert float infinity to integer")

    found = {f.code: f for f in run_checks(config, snap, extra=[broken_extra])}
    assert found["redis-check-failed"].severity == Severity.UNKNOWN
    assert "AttributeError" in found["redis-check-failed"].message
    assert "OverflowError" in found["host-check-failed"].message
    assert "gateway-down" in found and "encryption-key-too-short" in found  # the other groups still ran
    assert exit_code(found.values(), True) == 2


async def test_config_renamed_is_never_persistence_off(sim: GatewaySim, tmp_path: Path) -> None:
    import time

    import redis

    from tests.test_redis_store import RenamedCommandsRedis

    with RenamedCommandsRedis(save="900 1") as srv:
        seed_bulk(srv.url, 2, KEY, SALT, HASH_SALT)
        code, text = await _run(_config(sim, srv.url, tmp_path), "--json")
        unknown = {f["code"]: f for f in json.loads(text)["findings"]}
        client = redis.Redis.from_url(srv.url)
        client.bgsave()
        deadline = time.monotonic() + 10
        while client.info("persistence")["rdb_bgsave_in_progress"] and time.monotonic() < deadline:
            time.sleep(0.05)
        client.close()
        code_after, text_after = await _run(_config(sim, srv.url, tmp_path), "--json")
    assert "redis-persistence-off" not in unknown and code == 0, text
    assert unknown["redis-persistence-unknown"]["severity"] == "info"
    assert "CONFIG is unavailable" in unknown["redis-persistence-unknown"]["message"]
    after = {f["code"] for f in json.loads(text_after)["findings"]}
    assert code_after == 0 and not after & {"redis-persistence-off", "redis-persistence-unknown"}, text_after
