"""`keys generate`: the .env block's format, append-only writes, refusal to change a set variable, mode 600."""

from __future__ import annotations

import argparse
import io
import os
import re
import stat
from pathlib import Path

from pulse_tui.config import Config
from pulse_tui.envfile import read as _read_env
from pulse_tui.keys import command as keys_command
from pulse_tui.keys import options as keys_options
from pulse_tui.keys.generate import NAMES, env_block, generate, write_env

HEX_LEN = {"ENCRYPTION_KEY": 64, "ENCRYPTION_SALT": 32, "HASH_SALT": 32,
           "JWT_SECRET": 64, "SESSION_SECRET": 64, "WEBHOOK_SECRET": 64}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="keys_command", required=True)
    keys_options.add_arguments(sub)
    return p.parse_args(argv)


def test_generated_values_have_pulse_shapes_and_differ() -> None:
    a, b = generate(), generate()
    assert tuple(a) == NAMES
    for name, value in a.items():
        assert re.fullmatch(rf"[0-9a-f]{{{HEX_LEN[name]}}}", value), name
        assert value != b[name]
    assert len(set(a.values())) == len(a)  # no two variables share a value


def test_block_is_a_dotenv_pulse_reads(tmp_path: Path) -> None:
    values = generate()
    path = tmp_path / ".env"
    path.write_text(env_block(values))
    assert _read_env(path).values == values
    lines = [ln for ln in env_block(values).splitlines() if not ln.startswith("#")]
    assert lines == [f"{k}={v}" for k, v in values.items()]


def test_command_prints_a_block() -> None:
    out = io.StringIO()
    assert keys_command.run(_parse(["generate"]), Config(), out=out) == 0
    parsed = dict(ln.split("=", 1) for ln in out.getvalue().splitlines() if ln and not ln.startswith("#"))
    assert set(parsed) == set(NAMES)
    assert all(len(parsed[n]) == HEX_LEN[n] for n in NAMES)


def test_write_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    old_umask = os.umask(0o022)
    try:
        result = write_env(path)
    finally:
        os.umask(old_umask)
    assert result.added == NAMES and result.kept == ()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(_read_env(path).values) == set(NAMES)


def test_write_appends_only_missing_and_never_changes_a_set_variable(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    original = "# Pulse\nREDIS_HOST=127.0.0.1\nENCRYPTION_KEY=keep-this-existing-key-0123456789abcdef\nHASH_SALT="
    path.write_text(original)  # no trailing newline on purpose
    path.chmod(0o644)
    out = io.StringIO()
    assert keys_command.run(_parse(["generate", "--write", str(path)]), Config(), out=out) == 0
    text = path.read_text()
    assert text.startswith(original + "\n")  # the old content is byte-for-byte still there
    values = _read_env(path).values
    assert values["ENCRYPTION_KEY"] == "keep-this-existing-key-0123456789abcdef"
    assert values["HASH_SALT"] == ""  # present but empty: kept, and the operator is told
    assert text.count("ENCRYPTION_KEY=") == 1 and text.count("HASH_SALT=") == 1
    for name in ("JWT_SECRET", "SESSION_SECRET", "WEBHOOK_SECRET"):
        assert len(values[name] or "") == HEX_LEN[name]
    # Pulse runs on the default salt for a missing ENCRYPTION_SALT: adding one would orphan its sessions
    assert "ENCRYPTION_SALT" not in values
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    said = out.getvalue()
    assert "kept ENCRYPTION_KEY, HASH_SALT" in said
    assert "HASH_SALT is present but empty" in said
    assert "ENCRYPTION_SALT not added" in said and "--from-default --to-env NEW.env" in said
    assert "keep-this-existing-key" not in said  # never echo a value
    # a second run adds nothing and changes no byte
    before = path.read_bytes()
    again = write_env(path)
    assert again.added == () and set(again.kept) == set(NAMES) - {"ENCRYPTION_SALT"}
    assert path.read_bytes() == before


def test_write_flags_a_placeholder_it_keeps(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("ENCRYPTION_KEY=<your-generated-key>\n")
    result = write_env(path)
    assert "ENCRYPTION_KEY" in result.kept
    assert any("placeholder" in n for n in result.notes)
    assert _read_env(path).values["ENCRYPTION_KEY"] == "<your-generated-key>"


def test_write_is_atomic_no_temp_files_left(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    write_env(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
