"""`keys restore` is compare-and-set: it never puts an old value over a later write, and says what it skipped."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from pulse_tui.crypto.pulse import derive_key, encrypt, hash_whatsapp_id
from pulse_tui.keys.backup import BackupWriter, Skip, restore
from pulse_tui.keys.migrate import Migrator, connect, old_side, side_from_values
from tests.test_keys_bad_input import assert_one_sentence, cli
from tests.test_keys_parity import ENVS, seed


def migrate(url: str, backup: Path) -> None:
    c = connect(url)
    try:
        with BackupWriter(backup) as bw:
            new = side_from_values(ENVS["NEW"], "new")
            rep = Migrator(c, old_side([("old", ENVS["OLD"])], new, known=False), new, dry_run=False, backup=bw).run()
        assert rep.values["migrated"] == 8 and rep.index["renamed"] == 8
    finally:
        c.close()


def test_restore_after_a_concurrent_write_keeps_the_write(redis_url: str, tmp_path: Path) -> None:
    vecs = [v for v in seed(redis_url, "from-env-and-default") if v["name"] in ("old key + old salt",
                                                                                   "old key + new salt")]
    c = redis.Redis.from_url(redis_url)
    original = {v["sessionId"]: c.dump(f"session:{v['sessionId']}") for v in vecs}
    backup = tmp_path / "b.jsonl"
    migrate(redis_url, backup)
    # After the migration Pulse (now on the new keys) writes one session again, and re-points one index key.
    new_key = derive_key(ENVS["NEW"]["ENCRYPTION_KEY"], ENVS["NEW"]["ENCRYPTION_SALT"])
    written, untouched = vecs[0], vecs[1]
    later = encrypt(json.dumps({"sessionId": written["sessionId"], "lastActivity": "later"}), new_key)
    c.set(f"session:{written['sessionId']}", later, keepttl=True)
    new_index = "whatsapp:" + hash_whatsapp_id(untouched["whatsappId"], ENVS["NEW"]["HASH_SALT"])
    assert c.get(new_index) == untouched["sessionId"].encode()  # created by the migration
    c.set(new_index, "someone-else", keepttl=True)

    res = cli(tmp_path, "--redis-url", redis_url, "keys", "restore", str(backup))
    assert res.returncode == 1, res.stdout + res.stderr
    assert c.get(f"session:{written['sessionId']}") == later.encode()  # the later write survived
    assert c.dump(f"session:{untouched['sessionId']}") == original[untouched["sessionId"]]  # this one came back
    assert c.get(new_index) == b"someone-else"  # not deleted: it no longer holds what the migration wrote
    out = res.stdout
    assert f"skipped session:{written['sessionId']}: {Skip.CHANGED.value}" in out
    assert f"skipped {new_index}: {Skip.CHANGED.value}" in out
    assert "can be overwritten with `--force`" in out

    # --force asks for the count; a wrong answer changes nothing more
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "restore", str(backup), "--force")
    assert res.returncode == 1 and "Type 2 to confirm" in res.stdout and "not confirmed" in res.stdout
    assert c.get(f"session:{written['sessionId']}") == later.encode()
    c.close()


def test_force_after_confirming_the_count(redis_url: str, tmp_path: Path) -> None:
    vecs = [v for v in seed(redis_url, "from-env-and-default") if v["name"] in ("old key + old salt",
                                                                                   "old key + new salt")]
    c = redis.Redis.from_url(redis_url)
    original = c.dump(f"session:{vecs[0]['sessionId']}")
    backup = tmp_path / "b.jsonl"
    migrate(redis_url, backup)
    c.set(f"session:{vecs[0]['sessionId']}", "later", keepttl=True)
    import subprocess
    import sys

    from tests.test_keys_parity import clean_env

    res = subprocess.run([sys.executable, "-m", "pulse_tui", "--redis-url", redis_url, "keys", "restore", str(backup),
                          "--force"], input="1\n", capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env=clean_env(tmp_path), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Type 1 to confirm" in res.stdout and "forced: 1 restored" in res.stdout
    assert c.dump(f"session:{vecs[0]['sessionId']}") == original
    c.close()


def test_restore_twice_is_harmless_and_a_v1_backup_is_not_trusted(redis_url: str, tmp_path: Path) -> None:
    seed(redis_url, "from-env-and-default")
    backup = tmp_path / "b.jsonl"
    migrate(redis_url, backup)
    c = connect(redis_url)
    first = restore(c, backup)
    assert first.restored == 16 and first.deleted == 8 and not first.skipped  # 8 values, 8 old index keys
    second = restore(c, backup)
    assert second.restored == 0 and second.deleted == 0 and second.unchanged == 24  # already back
    assert not second.skipped
    # A backup from before compare-and-set (no `expect`): nothing is put back without --force.
    v1 = tmp_path / "v1.jsonl"
    lines = [json.loads(x) for x in backup.read_text().splitlines()]
    v1.write_text("\n".join(json.dumps({k: v for k, v in rec.items() if k != "expect"}) for rec in lines) + "\n")
    third = restore(c, v1)
    assert third.restored == 0 and Skip.UNVERIFIABLE in {why for _, why in third.skipped}
    c.close()


def test_restore_needs_write_permission(redis_url: str, tmp_path: Path) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "reader2", "on", ">pw2", "~*", "+@read", "+@scripting", "+acl|whoami")
    try:
        seed(redis_url, "from-env-and-default")
        backup = tmp_path / "b.jsonl"
        migrate(redis_url, backup)
        res = cli(tmp_path, "--redis-url", redis_url.replace("redis://", "redis://reader2:pw2@"), "keys", "restore",
                  str(backup))
        assert_one_sentence(res, 2, "may read but not write")
    finally:
        admin.execute_command("ACL", "DELUSER", "reader2")
        admin.close()
