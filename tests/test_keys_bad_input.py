"""Every bad input of `keys` as a subprocess: the exit code, exactly one line on stderr, never a traceback or a hang."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.test_keys_parity import ENVS, clean_env, write_env

EXIT_USAGE, EXIT_REDIS = 2, 3


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The timeout only stops a hang from blocking the suite; nothing here measures time.
    return subprocess.run([sys.executable, "-m", "pulse_tui", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=90, env=env or clean_env(tmp_path), stdin=subprocess.DEVNULL, check=False)


def assert_one_sentence(res: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    lines = res.stderr.splitlines()
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    text = tmp_path / "text.txt"
    text.write_text("hello, this is not a backup\n")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    shape = tmp_path / "shape.json"
    shape.write_text('[1, 2, 3]\n')
    entries = tmp_path / "entries.jsonl"
    entries.write_text('{"format": "pulse-tui-keys-backup", "version": 2}\n{"key_b64": 5, "dump": [], "pttl": "x"}\n')
    header_only_obj = tmp_path / "obj.json"
    header_only_obj.write_text('{"format": "pulse-tui-keys-backup", "version": 2}\n"just a string"\n')
    return {"fifo": fifo, "text": text, "binary": binary, "shape": shape, "entries": entries,
            "not-an-object": header_only_obj, "directory": tmp_path, "missing": tmp_path / "missing.jsonl"}


@pytest.mark.parametrize("kind,words", [
    ("fifo", ("FIFO",)), ("text", ("not a pulse-tui keys backup",)), ("binary", ("not a pulse-tui keys backup",)),
    ("shape", ("not a pulse-tui keys backup",)), ("entries", ("line 2 is damaged",)),
    ("not-an-object", ("line 2 is damaged",)), ("directory", ("directory",)), ("missing", ("does not exist",)),
])
def test_restore_of_a_bad_file(redis_url: str, tmp_path: Path, kind: str, words: tuple[str, ...]) -> None:
    path = _files(tmp_path)[kind]
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "restore", str(path))
    assert_one_sentence(res, EXIT_USAGE, *words)


@pytest.mark.parametrize("kind,words", [
    ("fifo", ("FIFO",)), ("binary", ("binary",)), ("directory", ("directory",)), ("missing", ("does not exist",)),
])
def test_from_env_of_a_bad_file(redis_url: str, tmp_path: Path, kind: str, words: tuple[str, ...]) -> None:
    path = _files(tmp_path)[kind]
    new = write_env(tmp_path / "new.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(path), "--to-env", str(new))
    assert_one_sentence(res, EXIT_USAGE, "--from-env", *words)


def test_from_env_unreadable(redis_url: str, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: mode 000 does not stop root from reading (binary/FIFO cases cover the path)")
    old = write_env(tmp_path / "old.env", ENVS["OLD"])
    old.chmod(0)
    new = write_env(tmp_path / "new.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert_one_sentence(res, EXIT_USAGE, "cannot be read")


@pytest.mark.parametrize("kind", ["fifo", "directory", "binary"])
def test_env_file_option_of_a_special_file(tmp_path: Path, kind: str) -> None:
    path = _files(tmp_path)[kind]
    res = cli(tmp_path, "--env-file", str(path), "keys", "generate")
    assert_one_sentence(res, EXIT_USAGE, "--env-file")
    res = cli(tmp_path, "--env-file", str(path), "status", "--json")
    assert_one_sentence(res, EXIT_USAGE, "--env-file")


@pytest.mark.parametrize("kind,words", [
    ("directory", ("directory",)), ("fifo", ("FIFO",)), ("missing-parent", ("does not exist",)),
    ("dev-full", ("device",)),
])
def test_generate_write_onto_a_bad_target(tmp_path: Path, kind: str, words: tuple[str, ...]) -> None:
    files = _files(tmp_path)
    target = {"directory": tmp_path, "fifo": files["fifo"], "missing-parent": tmp_path / "nope" / ".env",
              "dev-full": Path("/dev/full")}[kind]
    res = cli(tmp_path, "keys", "generate", "--write", str(target))
    assert_one_sentence(res, EXIT_USAGE, *words)
    assert not (tmp_path / "nope").exists()


def test_generate_write_through_a_symlink_keeps_a_stricter_mode(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "pulse.env"
    real.parent.mkdir()
    real.write_text("REDIS_HOST=127.0.0.1\n")
    real.chmod(0o400)
    link = tmp_path / ".env"
    link.symlink_to(real)
    res = cli(tmp_path, "keys", "generate", "--write", str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and link.resolve() == real  # written through the link, not replaced by a file
    assert "JWT_SECRET=" in real.read_text() and real.read_text().startswith("REDIS_HOST=127.0.0.1\n")
    assert stat.S_IMODE(real.stat().st_mode) == 0o400
    wide = tmp_path / "wide.env"
    wide.write_text("A=1\n")
    wide.chmod(0o644)
    assert cli(tmp_path, "keys", "generate", "--write", str(wide)).returncode == 0
    assert stat.S_IMODE(wide.stat().st_mode) == 0o600


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A 'Redis' on 127.0.0.1 that accepts connections and reads forever, never answering."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conns.append(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"redis://127.0.0.1:{srv.getsockname()[1]}/0"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


def test_migrate_and_restore_give_up_on_a_redis_that_never_answers(silent_redis: str, tmp_path: Path) -> None:
    old, new = write_env(tmp_path / "old.env", ENVS["OLD"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", silent_redis, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert_one_sentence(res, EXIT_REDIS, "cannot reach Redis", "nothing was read or changed")
    backup = tmp_path / "b.jsonl"
    backup.write_text('{"format": "pulse-tui-keys-backup", "version": 2}\n')
    res = cli(tmp_path, "--redis-url", silent_redis, "keys", "restore", str(backup))
    assert_one_sentence(res, EXIT_REDIS, "Redis")


@pytest.fixture
def read_only_user(redis_url: str) -> Iterator[str]:
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "reader", "on", ">reader-pw", "~*", "+@read", "+@scripting",
                          "+acl|whoami", "+info", "+ping")
    try:
        yield redis_url.replace("redis://", "redis://reader:reader-pw@")
    finally:
        admin.execute_command("ACL", "DELUSER", "reader")
        admin.close()


def test_apply_as_a_user_who_may_only_read_stops_before_writing(redis_url: str, read_only_user: str,
                                                                 tmp_path: Path) -> None:
    from tests.test_keys_parity import seed

    seed(redis_url, "from-env-and-default")
    admin = redis.Redis.from_url(redis_url)
    before = {k: admin.dump(k) for k in admin.scan_iter()}
    old, new = write_env(tmp_path / "old.env", ENVS["OLD"]), write_env(tmp_path / "new.env", ENVS["NEW"])
    dry = cli(tmp_path, "--redis-url", read_only_user, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert "could not check whether this Redis user may write" in dry.stdout
    backup = tmp_path / "b.jsonl"
    res = cli(tmp_path, "--redis-url", read_only_user, "keys", "migrate", "--from-env", str(old), "--to-env", str(new),
              "--apply", "--backup", str(backup))
    assert_one_sentence(res, EXIT_USAGE, "may read but not write", "nothing was changed")
    assert not backup.exists()
    assert {k: admin.dump(k) for k in admin.scan_iter()} == before
    assert "reader-pw" not in res.stdout + res.stderr
    admin.close()


def test_same_old_and_new_keys_are_refused(redis_url: str, tmp_path: Path) -> None:
    a, b = write_env(tmp_path / "a.env", ENVS["NEW"]), write_env(tmp_path / "b.env", ENVS["NEW"])
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(a), "--to-env", str(b))
    assert_one_sentence(res, EXIT_USAGE, "the same")


def test_new_key_too_short_in_utf16_units_is_refused(redis_url: str, tmp_path: Path) -> None:
    old = write_env(tmp_path / "old.env", ENVS["OLD"])
    new = write_env(tmp_path / "new.env", {**ENVS["NEW"], "ENCRYPTION_KEY": "\U0001f600" * 15 + "x"})
    res = cli(tmp_path, "--redis-url", redis_url, "keys", "migrate", "--from-env", str(old), "--to-env", str(new))
    assert_one_sentence(res, EXIT_USAGE, "shorter than 32")
