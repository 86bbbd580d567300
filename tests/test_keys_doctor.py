"""The doctor on Pulse's keys: what Pulse really does with an empty, short or unset key, and only safe hints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pulse_tui.config import load_config
from pulse_tui.doctor.checks_keys import EnvFileLines, check_config, check_env_file_lines, check_secrets
from pulse_tui.model import Finding, Severity
from tests.test_keys_parity import ENVS, clean_env

GOOD = {**ENVS["NEW"], "JWT_SECRET": "a1" * 32, "SESSION_SECRET": "b2" * 32, "WEBHOOK_SECRET": "c3" * 32,
        "REDIS_HOST": "127.0.0.1"}


def findings(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[Finding]:
    env = tmp_path / "pulse.env"
    env.write_text(text)
    env.chmod(0o600)
    return check_config(load_config({}, environ or {}, [env], cwd=tmp_path))


def env_text(**change: str | None) -> str:
    values = {**GOOD, **change}
    return "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)


def by_code(found: list[Finding], code: str) -> Finding:
    hits = [f for f in found if f.code == code]
    assert len(hits) == 1, [f.code for f in found]
    return hits[0]


def assert_safe_hint(hint: str) -> None:
    """A hint never tells the operator to write a key into Pulse's .env before migrating, nor to paste Pulse's."""
    assert "--write NEW.env" in hint and "--from-default --to-env NEW.env" in hint and "pulse stop" in hint
    assert not re.search(r"generate --write (<your \.env>|\S*pulse\.env)", hint)
    assert hint.index("keys migrate") < hint.index("copy NEW.env")


def test_good_keys_no_key_findings(tmp_path: Path) -> None:
    assert [f.code for f in findings(tmp_path, env_text())] == []


def test_empty_key_refuses_to_start_in_any_node_env(tmp_path: Path) -> None:
    for node_env in (None, "development", "production"):
        f = by_code(findings(tmp_path, env_text(ENCRYPTION_KEY="", NODE_ENV=node_env)), "secret-key-empty")
        assert f.severity == Severity.CRITICAL and "refuses to start" in f.message
        assert "Delete the empty ENCRYPTION_KEY= line" in f.hint
        assert_safe_hint(f.hint)


def test_short_key_in_production_refuses_to_start(tmp_path: Path) -> None:
    found = findings(tmp_path, env_text(ENCRYPTION_KEY="twenty-chars-key-xyz", NODE_ENV="production"))
    f = by_code(found, "secret-key-refused-production")
    assert f.severity == Severity.CRITICAL and "will not start" in f.message
    assert "twenty-chars-key-xyz" not in f.message + f.hint
    assert not [x for x in found if x.code == "encryption-key-too-short"]
    assert_safe_hint(f.hint)


def test_short_key_outside_production_silently_means_the_default_key(tmp_path: Path) -> None:
    f = by_code(findings(tmp_path, env_text(ENCRYPTION_KEY="twenty-chars-key-xyz", NODE_ENV="development")),
                "encryption-key-too-short")
    assert f.severity == Severity.WARNING and "default key" in f.message and "refuses" not in f.message
    assert "Do not lengthen it in place" in f.hint
    assert_safe_hint(f.hint)
    unknown = by_code(findings(tmp_path, env_text(ENCRYPTION_KEY="twenty-chars-key-xyz")), "encryption-key-too-short")
    assert "NODE_ENV=production" in unknown.message  # NODE_ENV unknown: both outcomes are named


def test_unset_key_warns_about_the_key_pulse_prints(tmp_path: Path) -> None:
    f = by_code(findings(tmp_path, env_text(ENCRYPTION_KEY=None)), "secret-unset")
    assert f.severity == Severity.WARNING
    assert "prints a random key" in f.message and "orphans" in f.message
    assert_safe_hint(f.hint)
    assert str(tmp_path / "pulse.env") in f.hint  # the migrate command names the .env the doctor read


def test_sixteen_emoji_key_is_long_enough(tmp_path: Path) -> None:
    found = findings(tmp_path, env_text(ENCRYPTION_KEY="\U0001f600" * 16))
    assert not [f for f in found if f.code in ("encryption-key-too-short", "secret-key-refused-production")]


def test_quoted_key_keeps_its_inner_spaces(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text('ENCRYPTION_KEY="  a passphrase with spaces, 32+ characters long  "\nHASH_SALT=  trimmed  \n')
    config = load_config({}, {}, [env], cwd=tmp_path)
    assert config.encryption_key == "  a passphrase with spaces, 32+ characters long  "
    assert config.hash_salt == "trimmed"


def test_ignored_lines_are_one_finding_by_number_never_by_value(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text(env_text() + "this line is s3cr3t-junk\nexport\n# comment\nKEY WITH SPACE=x\n")
    found = check_env_file_lines([env])
    assert len(found) == 1
    f = found[0]
    assert f.code == "env-file-ignored-lines" and "line(s) 8, 9, 11" in f.message
    assert "s3cr3t" not in f.message + f.hint and "SPACE" not in f.message
    assert by_code(check_config(load_config({}, {}, [env], cwd=tmp_path)), "env-file-ignored-lines")


def test_a_poller_reads_an_env_file_again_only_when_it_changed(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text("A=1\nnot a line\n")
    os.utime(env, ns=(10**18, 10**18))  # long ago: past the racy window
    memo = EnvFileLines()
    assert memo.ignored(env) == (2,)
    env.write_text("not a line\nA=1\n")  # same size, same inode; mtime set back: nothing tells the change
    os.utime(env, ns=(10**18, 10**18))
    assert memo.ignored(env) == (2,)  # so it was not read again
    os.utime(env, ns=(10**18 + 1, 10**18 + 1))  # one ns later: read again
    assert memo.ignored(env) == (1,)
    env.write_text("A=1\n")  # just written (racy): never kept, each call reads it
    assert memo.ignored(env) == ()
    env.write_text("A=1\nB\n")
    assert memo.ignored(env) == (2,)
    assert check_env_file_lines([env], memo)[0].code == "env-file-ignored-lines"


def test_ignored_lines_no_stderr_noise_and_the_rest_is_read(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text("junk line one\nENCRYPTION_KEY=pulse-production-passphrase-2025-rotated#1\n")
    res = subprocess.run([sys.executable, "-m", "pulse_tui", "--env-file", str(env), "keys", "generate"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=clean_env(tmp_path), check=False)
    assert res.returncode == 0 and res.stderr == ""  # python-dotenv used to warn here
    config = load_config({}, {}, [env], cwd=tmp_path)
    assert config.encryption_key == "pulse-production-passphrase-2025-rotated"


def test_a_long_bad_value_is_echoed_as_a_short_prefix(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text("PULSE_TUI_POLL_SECONDS=" + "9" * 5000 + "\n")
    res = subprocess.run([sys.executable, "-m", "pulse_tui", "--env-file", str(env), "keys", "generate"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=clean_env(tmp_path), check=False)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert "PULSE_TUI_POLL_SECONDS" in res.stderr and len(res.stderr) < 200 and "5000 characters" in res.stderr


def test_check_secrets_never_shows_a_value(tmp_path: Path) -> None:
    for change in ({"ENCRYPTION_KEY": ""}, {"ENCRYPTION_KEY": "short-key-20-chars-x", "NODE_ENV": "production"},
                   {"ENCRYPTION_SALT": None}, {"HASH_SALT": "short"}):
        (tmp_path / "pulse.env").write_text(env_text(**change))
        cfg = load_config({}, {}, [tmp_path / "pulse.env"], cwd=tmp_path)
        for f in check_secrets(cfg):
            for v in (*GOOD.values(), *(x for x in change.values() if x)):
                if len(v) >= 5 and v not in ("127.0.0.1", "production"):
                    assert v not in f.message + f.hint, (f.code, v)


def test_doctor_reports_ignored_lines_once_with_no_stderr(tmp_path: Path) -> None:
    env = tmp_path / "pulse.env"
    env.write_text(env_text() + "s3cr3t-junk without equals\n")
    env.chmod(0o600)
    res = subprocess.run([sys.executable, "-m", "pulse_tui", "--env-file", str(env), "--url", "http://127.0.0.1:9",
                          "doctor", "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=clean_env(tmp_path), check=False)
    assert res.stderr == "" and "Traceback" not in res.stdout
    report = json.loads(res.stdout)
    flat = json.dumps(report)
    assert flat.count("env-file-ignored-lines") == 1 and "line(s) 8 " in flat
    assert "s3cr3t" not in flat
