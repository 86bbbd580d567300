"""Pulse parity: values written by Node's crypto the way Pulse writes them, migrated by the real CLI against a real
redis-server, then opened with the new keys by the same Node code (tests/data/pulse_vectors.js) when node is here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from pulse_tui.crypto.pulse import KeyRing, decrypt, derive_key, hash_whatsapp_id, js_length, key_too_short

DATA = Path(__file__).parent / "data"
VECTORS: dict[str, Any] = json.loads((DATA / "pulse_vectors.json").read_text(encoding="utf-8"))
ENVS: dict[str, dict[str, str]] = VECTORS["envs"]
NODE = shutil.which("node")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment without any variable pulse-tui reads, so only the test's files count."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PULSE_TUI_", "REDIS_", "ENCRYPTION_", "HASH_SALT", "NODE_ENV"))}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), **extra)
    return env


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pulse_tui", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env or clean_env(tmp_path), input=stdin, check=False)


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f'{k}="{v}"\n' for k, v in values.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


def seed(url: str, scenario: str) -> list[dict[str, Any]]:
    vecs = [v for v in VECTORS["vectors"] if v["scenario"] == scenario]
    c = redis.Redis.from_url(url)
    for v in vecs:
        c.set(f"session:{v['sessionId']}", v["value"], ex=v["ttl"])
        c.set(v["index_key"], v["sessionId"], ex=v["ttl"])
    c.close()
    return vecs


def node_open(key: str, salt: str, values: list[str]) -> list[str | None] | None:
    """Pulse's own decrypt path (Node's crypto); None when node is not installed."""
    if NODE is None:
        return None
    res = subprocess.run([NODE, str(DATA / "pulse_vectors.js"), "open"], input=json.dumps(
        {"key": key, "salt": salt, "values": values}), capture_output=True, text=True, timeout=60, check=True)
    return json.loads(res.stdout)


def assert_opens_with_new_keys(url: str, vecs: list[dict[str, Any]]) -> None:
    """Every migrated value opens with NEW (by Node when present), TTL kept, index re-hashed with NEW's HASH_SALT."""
    new = ENVS["NEW"]
    c = redis.Redis.from_url(url)
    try:
        values = [(c.get(f"session:{v['sessionId']}") or b"").decode() for v in vecs]
        opened = node_open(new["ENCRYPTION_KEY"], new["ENCRYPTION_SALT"], values)
        if opened is None:
            print("node is not installed: opened with pulse-tui's own decrypt instead of Pulse's Node code path")
            key = derive_key(new["ENCRYPTION_KEY"], new["ENCRYPTION_SALT"])
            opened = [decrypt(v, key) for v in values]
        assert opened == [v["plaintext"] for v in vecs]
        for v in vecs:
            ttl = int(c.pttl(f"session:{v['sessionId']}"))
            assert 80_000_000 < ttl <= v["ttl"] * 1000, v["name"]  # kept, not reset to none or refreshed beyond
            new_index = "whatsapp:" + hash_whatsapp_id(v["whatsappId"], new["HASH_SALT"])
            assert c.get(new_index) == v["sessionId"].encode(), v["name"]
            assert not c.exists(v["index_key"]), v["name"]
            assert 80_000_000 < int(c.pttl(new_index)) <= v["ttl"] * 1000
    finally:
        c.close()


def test_node_vectors_open_with_our_crypto_too() -> None:
    """Our decrypt agrees with Node's encrypt on every vector (so the CLI runs below test migration, not crypto)."""
    by_label = {"old key": ENVS["OLD"]["ENCRYPTION_KEY"], "default key": VECTORS["defaults"]["key"],
                "emoji key": ENVS["EMOJI"]["ENCRYPTION_KEY"]}
    salts = {"old salt": ENVS["OLD"]["ENCRYPTION_SALT"], "default salt": VECTORS["defaults"]["salts"][0],
             "older default salt": VECTORS["defaults"]["salts"][1], "new salt": ENVS["NEW"]["ENCRYPTION_SALT"]}
    for v in VECTORS["vectors"]:
        salt = salts.get(v["salt_label"]) or ENVS["SHORT" if v["scenario"] == "short-key" else "EMOJI"]["ENCRYPTION_SALT"]
        assert decrypt(v["value"], derive_key(by_label[v["key_label"]], salt)) == v["plaintext"], v["name"]


def test_every_pair_pulse_could_have_written_with_is_migrated(redis_url: str, tmp_path: Path) -> None:
    """--from-env OLD --from-default --to-env NEW: {old, default key} x {old, default, new salt} and each HASH_SALT."""
    vecs = seed(redis_url, "from-env-and-default")
    assert len(vecs) == 8
    old, new = write_env(tmp_path / "old.env", ENVS["OLD"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    dry = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--from-default",
              "--to-env", str(new))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "8 " in dry.stdout and "would be re-encrypted" in dry.stdout
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--from-default",
              "--to-env", str(new), "--apply", "--backup", str(tmp_path / "b.jsonl"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "open with neither" not in res.stdout
    assert_opens_with_new_keys(redis_url, vecs)
    for secret in (*ENVS["OLD"].values(), *ENVS["NEW"].values()):
        assert secret not in res.stdout + res.stderr


def test_short_key_with_own_salt_via_the_doctors_hint(redis_url: str, tmp_path: Path) -> None:
    """The doctor's hint for a short key: `--env-file SHORT.env keys migrate --from-default --to-env NEW.env`.
    Pulse wrote with (default key, configured salt) and the configured HASH_SALT; NEW.env names Redis by host/port."""
    vecs = seed(redis_url, "short-key")
    short = write_env(tmp_path / "short.env", ENVS["SHORT"])
    parts = urlsplit(redis_url)
    new = write_env(tmp_path / "new.env", {**ENVS["NEW"], "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(parts.port),
                                           "REDIS_DB": "0"})
    res = cli(tmp_path, "--env-file", str(short), "keys", "migrate", "--from-default", "--to-env", str(new),
              "--apply", "--backup", str(tmp_path / "b.jsonl"))
    assert res.returncode == 0, res.stdout + res.stderr
    first = res.stdout.splitlines()[0]
    assert f"127.0.0.1:{parts.port}/0" in first and str(new) in first  # the target and where it came from
    assert "default key + current salt (1)" in res.stdout
    assert f"pulse-tui --env-file {new} keys restore {tmp_path / 'b.jsonl'}" in res.stdout
    assert_opens_with_new_keys(redis_url, vecs)


def test_values_no_side_opens_are_said_loudly_and_exit_1(redis_url: str, tmp_path: Path) -> None:
    seed(redis_url, "short-key")
    old, new = write_env(tmp_path / "old.env", ENVS["OLD"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    # --from-env OLD alone never opens (default key, SHORT's salt): those two values are left, and Pulse deletes them
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new),
              "--apply", "--backup", str(tmp_path / "b.jsonl"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "WARNING: 1 encrypted value(s) open with none" in res.stdout and "Pulse DELETES" in res.stdout
    assert "Traceback" not in res.stderr


def test_sixteen_emoji_are_a_32_unit_key_as_in_javascript(redis_url: str, tmp_path: Path) -> None:
    emoji = ENVS["EMOJI"]["ENCRYPTION_KEY"]
    assert len(emoji) == 16 and js_length(emoji) == 32 and not key_too_short(emoji)
    assert key_too_short("\U0001f600" * 15 + "x")  # 31 units
    vecs = seed(redis_url, "emoji-key")
    pair = KeyRing.for_pulse(emoji, ENVS["EMOJI"]["ENCRYPTION_SALT"]).open(vecs[0]["value"])[1]
    assert pair.label == "configured"  # Pulse used the emoji key itself, not its default key
    old, new = write_env(tmp_path / "old.env", ENVS["EMOJI"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new),
              "--apply", "--backup", str(tmp_path / "b.jsonl"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "old key + old salt (1)" in res.stdout
    assert_opens_with_new_keys(redis_url, vecs)


def test_hash_in_key_is_read_as_node_reads_it(redis_url: str, tmp_path: Path) -> None:
    """`ENCRYPTION_KEY=...rotated#1`: Node keeps the text before `#`, and so must the migration's old side."""
    key = "pulse-production-passphrase-2025-rotated"
    salt = ENVS["OLD"]["ENCRYPTION_SALT"]
    from pulse_tui.crypto.pulse import encrypt

    c = redis.Redis.from_url(redis_url)
    plain = json.dumps({"sessionId": "ab" * 16, "whatsappId": "18765550999@c.us"})
    c.set("session:" + "ab" * 16, encrypt(plain, derive_key(key, salt)), ex=86400)
    c.close()
    old = tmp_path / "old.env"
    old.write_text(f"ENCRYPTION_KEY={key}#1\nENCRYPTION_SALT={salt}\n")
    new = write_env(tmp_path / "new.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "old key + old salt (1)" in res.stdout


def test_a_configured_redis_other_than_pulses_is_refused(redis_url: str, tmp_path: Path) -> None:
    """Pulse will use NEW.env's Redis after the switch: migrating another one is refused, both named, no password."""
    port = urlsplit(redis_url).port
    new = write_env(tmp_path / "new.env", {**ENVS["NEW"], "REDIS_HOST": "localhost", "REDIS_PORT": str(port),
                                           "REDIS_PASSWORD": "pulse-redis-pw"})
    old = write_env(tmp_path / "old.env", ENVS["OLD"])
    same = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert same.returncode == 0, same.stderr  # localhost and 127.0.0.1 are the same Redis
    elsewhere = f"redis://127.0.0.1:{port}/3"
    other = cli(tmp_path, "keys", "migrate", "--from-env", str(old), "--to-env", str(new),
                env=clean_env(tmp_path, REDIS_URL=elsewhere))
    assert other.returncode == 2 and len(other.stderr.splitlines()) == 1
    assert "is not the one" in other.stderr and f":{port}/3" in other.stderr
    assert "pulse-redis-pw" not in other.stderr
    chosen = cli(tmp_path, "--redis-url", elsewhere, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert chosen.returncode == 0 and f":{port}/3 (from --redis-url)" in chosen.stdout  # the operator's choice
