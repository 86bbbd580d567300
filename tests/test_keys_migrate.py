"""`keys migrate` / `keys restore` against a real redis-server seeded with Pulse-format data (no mocks)."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pulse_tui.config import Config
from pulse_tui.crypto.pulse import (
    DEFAULT_KEY,
    DEFAULT_SALTS,
    KeyRing,
    decrypt,
    derive_key,
    encrypt,
    hash_whatsapp_id,
)
from pulse_tui.keys import command as keys_command
from pulse_tui.keys import options as keys_options
from pulse_tui.keys.backup import BackupWriter, read_backup, restore
from pulse_tui.keys.migrate import (
    ENCRYPTED_PREFIXES,
    MigrateError,
    Migrator,
    Outcome,
    connect,
    old_side,
    side_from_values,
    validate,
)
from pulse_tui.model import IndexClass, ValueClass
from pulse_tui.sim.seeder import SeedManifest, seed_bulk, seed_demo
from pulse_tui.sources.redis_store import RedisInspector

OLD = {"ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "ENCRYPTION_SALT": "00112233445566778899aabbccddeeff",
       "HASH_SALT": "c0ffeec0ffeec0ffeec0ffeec0ffee00"}
NEW = {"ENCRYPTION_KEY": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
       "ENCRYPTION_SALT": "aabbccddeeff00112233445566778899",
       "HASH_SALT": "feedfacefeedfacefeedfacefeedface"}
NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def old_key() -> bytes:
    return derive_key(OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"])


@pytest.fixture(scope="module")
def new_key() -> bytes:
    return derive_key(NEW["ENCRYPTION_KEY"], NEW["ENCRYPTION_SALT"])


NO_SCRIPTS_USER = "pulse-tui-test-no-scripts"


def user_without_scripts(redis_url: str) -> str:
    """The URL of a Redis user who may read and write but not run scripts (as on a managed Redis whose ACL
    leaves out @scripting): migrate and restore then write with WATCH/MULTI/EXEC transactions."""
    admin = redis.Redis.from_url(redis_url)
    try:
        admin.acl_setuser(NO_SCRIPTS_USER, enabled=True, reset=True, passwords=["+no-scripts-pw"], keys=["*"],
                          commands=["+@all", "-@scripting"])
    finally:
        admin.close()
    host_port = redis_url.split("@")[-1].removeprefix("redis://")
    return f"redis://{NO_SCRIPTS_USER}:no-scripts-pw@{host_port}"


@pytest.fixture(params=["scripts", "no-scripts"])
def migrate_url(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """The migration's Redis URL: a user who may run scripts, and one who may not."""
    if request.param == "scripts":
        yield redis_url
        return
    yield user_without_scripts(redis_url)
    admin = redis.Redis.from_url(redis_url)
    admin.acl_deluser(NO_SCRIPTS_USER)
    admin.close()


def scripts_allowed(c: redis.Redis) -> bool:
    try:
        c.eval("return 1", 0)
    except redis.ResponseError:
        return False
    return True


@pytest.fixture
def client(migrate_url: str) -> Iterator[redis.Redis]:
    c = connect(migrate_url)
    yield c
    c.close()


@pytest.fixture
def seeded(redis_url: str) -> SeedManifest:
    return seed_demo(redis_url, OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"], OLD["HASH_SALT"], now=NOW)


def dump_all(c: redis.Redis) -> dict[bytes, tuple[bytes, int]]:
    """Every key's DUMP payload and PTTL."""
    keys = sorted(c.scan_iter(count=1000))
    pipe = c.pipeline(transaction=False)
    for k in keys:
        pipe.dump(k)
        pipe.pttl(k)
    res = pipe.execute()
    return {k: (res[2 * i], int(res[2 * i + 1])) for i, k in enumerate(keys)}


def opens(value: bytes, key: bytes) -> bool:
    try:
        decrypt(value, key)
    except Exception:  # noqa: BLE001 - any failure means "does not open"
        return False
    return True


def is_encrypted_key(k: bytes) -> bool:
    return k.decode().startswith(ENCRYPTED_PREFIXES)


def sides() -> tuple[object, object]:
    return side_from_values(OLD, "old"), side_from_values(NEW, "new")


def run_migration(c: redis.Redis, tmp_path: Path, *, dry_run: bool, name: str = "backup.jsonl", **kw: object):
    old, new = side_from_values(OLD, "old"), side_from_values(NEW, "new")
    if dry_run:
        return Migrator(c, old, new, dry_run=True, **kw).run()  # type: ignore[arg-type]
    with BackupWriter(tmp_path / name) as bw:
        return Migrator(c, old, new, dry_run=False, backup=bw, **kw).run()  # type: ignore[arg-type]


def test_dry_run_changes_nothing(client: redis.Redis, seeded: SeedManifest, tmp_path: Path) -> None:
    before = dump_all(client)
    report = run_migration(client, tmp_path, dry_run=True)
    after = dump_all(client)
    assert {k: v[0] for k, v in before.items()} == {k: v[0] for k, v in after.items()}
    # 7 readable sessions + default-hash-salt + corrupt-not-json open with the old key; 5 otp/balance/admin.
    assert report.values[Outcome.WOULD_MIGRATE] == 9 + 5
    assert report.values[Outcome.MIGRATED] == 0
    assert report.values[Outcome.PLAIN] == 1
    # wrong-key, default-key (not asked for), two corrupt shapes
    assert report.values[Outcome.UNOPENABLE] == 4
    assert report.index["would-rename"] > 0
    assert not list(tmp_path.iterdir())  # no backup file in a dry run


def test_apply_reencrypts_keeps_ttls_and_rehashes_index(
    client: redis.Redis, seeded: SeedManifest, tmp_path: Path, old_key: bytes, new_key: bytes
) -> None:
    before = dump_all(client)
    old_values = {k: client.get(k) for k in before if is_encrypted_key(k)}
    report = run_migration(client, tmp_path, dry_run=False)
    assert report.values[Outcome.MIGRATED] == 14
    assert report.complete
    assert report.scripted is scripts_allowed(client)  # the no-scripts user's writes were transactions
    after = dump_all(client)
    for k, old_v in old_values.items():
        assert old_v is not None
        now_v = client.get(k)
        assert now_v is not None
        if opens(old_v, old_key):
            assert opens(now_v, new_key), k
            assert decrypt(now_v, new_key) == decrypt(old_v, old_key)
            if before[k][1] > 0:
                assert abs(after[k][1] - before[k][1]) <= 2000, k  # PTTL kept (±2 s)
        else:
            assert after[k][0] == before[k][0], k  # untouched: exact same bytes
    # index keys: every readable session is now found under sha256(wid + new HASH_SALT), TTL kept
    for sid, exp in seeded.sessions.items():
        if exp.value_class not in (ValueClass.OK, ValueClass.PLAIN) or exp.index != IndexClass.OK \
                or exp.hash_salt_mismatch:
            continue  # default-key and unreadable sessions: their WhatsApp id is unknown, their index is left
        assert exp.whatsapp_id is not None
        old_idx = ("whatsapp:" + hash_whatsapp_id(exp.whatsapp_id, OLD["HASH_SALT"])).encode()
        new_idx = ("whatsapp:" + hash_whatsapp_id(exp.whatsapp_id, NEW["HASH_SALT"])).encode()
        assert client.get(new_idx) == sid.encode()
        assert not client.exists(old_idx)
        assert abs(int(client.pttl(new_idx)) - before[old_idx][1]) <= 2000
    # the backup is private
    backup = tmp_path / "backup.jsonl"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


async def test_after_apply_the_inspector_reads_everything_with_the_new_keys(
    client: redis.Redis, redis_url: str, seeded: SeedManifest, tmp_path: Path
) -> None:
    run_migration(client, tmp_path, dry_run=False)
    ins = RedisInspector(redis_url, KeyRing.for_pulse(NEW["ENCRYPTION_KEY"], NEW["ENCRYPTION_SALT"]),
                         NEW["HASH_SALT"])
    try:
        rep = await ins.inspect()
    finally:
        await ins.aclose()
    got = {s.session_id: s for s in rep.sessions}
    for sid, exp in seeded.sessions.items():
        if exp.value_class == ValueClass.OK:
            assert got[sid].value_class == ValueClass.OK, exp.name
            assert got[sid].key_label == "configured"
            assert got[sid].index == exp.index, exp.name
    assert got[seeded.by_name("wrong-key")[0]].value_class == ValueClass.UNDECRYPTABLE
    assert got[seeded.by_name("plain")[0]].value_class == ValueClass.PLAIN


def test_restore_returns_the_exact_previous_bytes(client: redis.Redis, seeded: SeedManifest, tmp_path: Path) -> None:
    before = dump_all(client)
    run_migration(client, tmp_path, dry_run=False)
    assert dump_all(client) != before
    rep = restore(client, tmp_path / "backup.jsonl")
    assert rep.restored > 0 and rep.deleted > 0 and not rep.failed
    after = dump_all(client)
    assert set(after) == set(before)
    for k, (payload, pttl) in before.items():
        assert after[k][0] == payload, k
        if pttl > 0:
            assert abs(after[k][1] - pttl) <= 2000, k
        else:
            assert after[k][1] == pttl


def test_concurrent_writer_is_not_clobbered(
    client: redis.Redis, redis_url: str, seeded: SeedManifest, tmp_path: Path, old_key: bytes
) -> None:
    sid, _ = seeded.by_name("good-2")
    target = f"session:{sid}".encode()
    concurrent = encrypt(json.dumps({"sessionId": sid, "whatsappId": "18765550102@c.us", "isVerified": True,
                                     "lastActivity": "written-by-pulse-meanwhile"}), old_key).encode()
    other = connect(redis_url)
    calls: list[list[bytes]] = []

    def pulse_writes(keys: list[bytes]) -> None:
        # Between our read (and backup) and our write, Pulse updates one of the sessions in this batch.
        calls.append(keys)
        if target in keys:
            other.set(target, concurrent, keepttl=True)

    try:
        report = run_migration(client, tmp_path, dry_run=False, before_write=pulse_writes)
    finally:
        other.close()
    assert any(target in keys for keys in calls)
    assert client.get(target) == concurrent  # Pulse's write survived
    assert report.values[Outcome.SKIPPED_CHANGED] == 1
    assert target.decode() in report.examples[Outcome.SKIPPED_CHANGED]
    assert not report.complete
    # a rerun finishes the job
    report2 = run_migration(client, tmp_path, dry_run=False, name="backup2.jsonl")
    assert report2.values[Outcome.MIGRATED] == 1 and report2.complete
    final = client.get(target)
    # and restoring the first backup never puts the pre-migration value over Pulse's newer write
    restore(client, tmp_path / "backup.jsonl")
    assert client.get(target) == final


def test_interrupted_migration_leaves_every_key_readable(
    client: redis.Redis, seeded: SeedManifest, tmp_path: Path, old_key: bytes, new_key: bytes
) -> None:
    readable = [k for k in dump_all(client) if is_encrypted_key(k) and opens(client.get(k) or b"", old_key)]
    batches = 0

    def crash(keys: list[bytes]) -> None:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise RuntimeError("killed midway")

    with pytest.raises(RuntimeError):
        run_migration(client, tmp_path, dry_run=False, batch=3, before_write=crash)
    states = [(opens(client.get(k) or b"", old_key), opens(client.get(k) or b"", new_key)) for k in readable]
    assert all(o or n for o, n in states)
    assert any(n for _, n in states) and any(o for o, _ in states)  # really midway
    report = run_migration(client, tmp_path, dry_run=False, name="backup2.jsonl")
    assert report.complete
    assert all(opens(client.get(k) or b"", new_key) for k in readable)


_KILL_SCRIPT = """
import sys
from pulse_tui.keys.backup import BackupWriter
from pulse_tui.keys.migrate import Migrator, connect, side_from_values
old = side_from_values(dict(ENCRYPTION_KEY=sys.argv[2], ENCRYPTION_SALT=sys.argv[3], HASH_SALT=sys.argv[4]), "old")
new = side_from_values(dict(ENCRYPTION_KEY=sys.argv[5], ENCRYPTION_SALT=sys.argv[6], HASH_SALT=sys.argv[7]), "new")
def tell(keys):
    print("batch", len(keys), flush=True)
with BackupWriter(sys.argv[8]) as bw:
    Migrator(connect(sys.argv[1]), old, new, dry_run=False, backup=bw, batch=50, before_write=tell).run()
print("done", flush=True)
"""


@pytest.mark.slow
def test_killed_process_leaves_every_key_readable(
    client: redis.Redis, redis_url: str, migrate_url: str, tmp_path: Path, old_key: bytes, new_key: bytes
) -> None:
    ids = seed_bulk(redis_url, 1500, OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"], OLD["HASH_SALT"])
    args = [sys.executable, "-c", _KILL_SCRIPT, migrate_url, OLD["ENCRYPTION_KEY"], OLD["ENCRYPTION_SALT"],
            OLD["HASH_SALT"], NEW["ENCRYPTION_KEY"], NEW["ENCRYPTION_SALT"], NEW["HASH_SALT"],
            str(tmp_path / "b.jsonl")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("batch")
        if seen == 4:
            proc.kill()  # SIGKILL: no cleanup, no finally blocks
            break
    proc.wait()
    values = client.mget([f"session:{i}" for i in ids])
    states = [(opens(v or b"", old_key), opens(v or b"", new_key)) for v in values]
    assert all(o or n for o, n in states)
    assert any(n for _, n in states)
    # the backup written so far is readable (a kill mid-line is reported, not silently ignored)
    assert read_backup(tmp_path / "b.jsonl")


def test_from_default_migrates_default_key_sessions(client: redis.Redis, redis_url: str, tmp_path: Path,
                                                    new_key: bytes) -> None:
    manifest = seed_demo(redis_url, NEW["ENCRYPTION_KEY"], NEW["ENCRYPTION_SALT"], NEW["HASH_SALT"], now=NOW)
    sid, _ = manifest.by_name("default-key")
    wrong, _ = manifest.by_name("wrong-key")
    new = side_from_values(NEW, "new")
    old = old_side([], new, known=True)
    with BackupWriter(tmp_path / "b.jsonl") as bw:
        report = Migrator(client, old, new, dry_run=False, backup=bw).run()
    assert report.values[Outcome.MIGRATED] == 1
    assert report.opened_by == {"default key + default salt": 1}
    v = client.get(f"session:{sid}")
    assert v is not None and opens(v, new_key)
    default = derive_key(DEFAULT_KEY, DEFAULT_SALTS[0])
    assert not opens(v, default)
    assert client.get(f"session:{wrong}") is not None  # unopenable: left where it was


def test_validate_refuses_unusable_new_keys() -> None:
    old = side_from_values(OLD, "old")
    short = {**NEW, "ENCRYPTION_KEY": "tooshort-20-chars-xx"}
    with pytest.raises(MigrateError, match="shorter than 32"):
        validate(old, side_from_values(short, "new"), short)
    placeholder = {**NEW, "ENCRYPTION_KEY": "your_encryption_key_here_min_32_chars_required"}
    with pytest.raises(MigrateError, match="publicly known"):
        validate(old, side_from_values(placeholder, "new"), placeholder)
    with pytest.raises(MigrateError, match="same"):
        validate(old, side_from_values(OLD, "new"), OLD)
    validate(old, side_from_values(NEW, "new"), NEW)  # fine


# --- the command -------------------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="keys_command", required=True)
    keys_options.add_arguments(sub)
    return p.parse_args(argv)


def _env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def _assert_no_secret(text: str, manifest: SeedManifest) -> None:
    for v in [*OLD.values(), *NEW.values(), manifest.fake_token]:
        assert v not in text


def test_command_dry_run_then_apply_then_restore(
    client: redis.Redis, migrate_url: str, seeded: SeedManifest, tmp_path: Path, new_key: bytes
) -> None:
    old_env = _env_file(tmp_path / "old.env", OLD)
    new_env = _env_file(tmp_path / "new.env", NEW)
    config = Config(redis_url=migrate_url)
    before = dump_all(client)

    out = io.StringIO()
    code = keys_command.run(_parse(["migrate", "--from-env", str(old_env), "--to-env", str(new_env)]), config, out=out)
    assert code == 1  # the seed's wrong-key and corrupt values open with no side: said loudly, exit 1
    assert "DRY RUN" in out.getvalue() and "would be re-encrypted" in out.getvalue()
    assert "Pulse DELETES each one" in out.getvalue()
    assert {k: v[0] for k, v in dump_all(client).items()} == {k: v[0] for k, v in before.items()}
    _assert_no_secret(out.getvalue(), seeded)

    backup = tmp_path / "undo.jsonl"
    out = io.StringIO()
    code = keys_command.run(_parse(["migrate", "--from-env", str(old_env), "--to-env", str(new_env), "--apply",
                                    "--backup", str(backup)]), config, out=out)
    assert code == 1, out.getvalue()
    text = out.getvalue()
    assert "APPLIED" in text and str(backup) in text
    assert ("refuses scripts: each write was a WATCH/MULTI/EXEC" in text) is not scripts_allowed(client)
    _assert_no_secret(text, seeded)
    _assert_no_secret(backup.read_text(), seeded)  # DUMPs are base64 of ciphertext, never a plaintext secret
    sid, _ = seeded.by_name("good-1")
    assert opens(client.get(f"session:{sid}") or b"", new_key)

    out = io.StringIO()
    assert keys_command.run(_parse(["restore", str(backup)]), config, out=out) == 0
    assert {k: v[0] for k, v in dump_all(client).items()} == {k: v[0] for k, v in before.items()}


def test_command_refusals(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_env = _env_file(tmp_path / "old.env", OLD)
    assert keys_command.run(_parse(["migrate"]), Config(redis_url=redis_url)) == 2  # no --from-*
    assert keys_command.run(_parse(["migrate", "--from-env", str(old_env)]), Config()) == 2  # no Redis
    ro = Config(redis_url=redis_url, read_only=True, encryption_key=NEW["ENCRYPTION_KEY"])
    assert keys_command.run(_parse(["migrate", "--from-env", str(old_env), "--apply"]), ro) == 2
    err = capsys.readouterr().err
    assert "read-only" in err
    for v in OLD.values():
        assert v not in err


def test_backup_file_is_created_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    old_umask = os.umask(0)
    try:
        with BackupWriter(path) as bw:
            bw.add(b"session:x", b"payload", 1000)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert base64.b64decode(lines[1]["dump"]) == b"payload"
    from pulse_tui.keys.backup import BackupError

    with pytest.raises(BackupError, match="already exists"):
        BackupWriter(path)
