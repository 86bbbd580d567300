"""LocalAuth dir discovery (Salesboy and Pulse layouts) and safe deletion."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pulse_tui.sources.authdirs import (
    AuthDir,
    EntryCounts,
    Layout,
    auth_dir_path,
    delete_auth_dir,
    discover,
    is_placeholder,
    is_uuid,
    salesboy_id_error,
)

UID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
UID2 = "0B9E8F1C-1111-4222-8333-444455556666"


def mk(path: Path, files: int = 0) -> Path:
    path.mkdir(parents=True)
    for i in range(files):
        (path / f"f{i}").write_bytes(b"x" * 10)
    return path


def test_salesboy_layout_flags_orphans(tmp_path: Path) -> None:
    root = tmp_path / ".wwebjs_auth"
    mk(root / f"session-{UID}", files=2)
    mk(root / f"session-{UID2}")
    mk(root / "session-current-user")
    mk(root / "session-test-user-3")
    mk(root / "session-abc")
    mk(root / "logs")
    (root / "session-file-not-dir").write_text("x")
    found = {d.session_id: d for d in discover([root])}
    assert set(found) == {UID, UID2, "current-user", "test-user-3", "abc"}
    assert found[UID].valid and found[UID2].valid and found[UID].layout == Layout.SALESBOY
    assert found[UID].path == root / f"session-{UID}" and found[UID].id == UID
    assert found[UID].entries == 2 and found[UID2].entries == 0
    assert found[UID].mtime == pytest.approx(os.stat(root / f"session-{UID}").st_mtime)
    assert found[UID].size_bytes is None  # not asked for
    for orphan in ("current-user", "test-user-3"):
        assert not found[orphan].valid and "placeholder" in found[orphan].reason
    assert not found["abc"].valid and "UUID" in found["abc"].reason


def test_pulse_layout(tmp_path: Path) -> None:
    root = tmp_path / "whatsapp-sessions"
    mk(root / "18765551234" / "session-pulse-bot-18765551234", files=1)
    mk(root / "447700900123")  # dataPath without a session dir yet: nothing to report
    mk(root / "notaphone" / "session-pulse-bot-notaphone")
    found = discover([root])
    assert [(d.session_id, d.layout, d.valid) for d in found] == [("18765551234", Layout.PULSE, True)]
    assert found[0].path == auth_dir_path(root, "18765551234", Layout.PULSE)


def test_layout_filter_and_app_dir_roots(tmp_path: Path) -> None:
    app = tmp_path / "salesboy-gateway"
    mk(app / ".wwebjs_auth" / f"session-{UID}")
    pulse_app = tmp_path / "pulse"
    mk(pulse_app / "whatsapp-sessions" / "18765551234" / "session-pulse-bot-18765551234")
    both = discover([app, pulse_app])
    assert [(d.layout, d.session_id) for d in both] == [(Layout.PULSE, "18765551234"), (Layout.SALESBOY, UID)]
    assert [d.session_id for d in discover([app, pulse_app], Layout.SALESBOY)] == [UID]
    assert [d.session_id for d in discover([app, pulse_app], Layout.PULSE)] == ["18765551234"]
    # the same root given twice reports each dir once
    assert len(discover([app, app / ".wwebjs_auth"])) == 1


def test_missing_or_unreadable_roots_give_nothing(tmp_path: Path) -> None:
    assert discover([tmp_path / "nope"]) == []
    f = tmp_path / "file"
    f.write_text("x")
    assert discover([f]) == []


def test_entry_counts_follow_changes(tmp_path: Path) -> None:
    """Counts are reused while a dir is unchanged (polls re-list every dir), never once it changed."""
    root = tmp_path / ".wwebjs_auth"
    old, fresh = mk(root / f"session-{UID}", files=2), mk(root / f"session-{UID2}", files=1)
    past = os.stat(old).st_mtime_ns - 60 * 10**9
    os.utime(old, ns=(past, past))
    kept = EntryCounts()

    def counts() -> tuple[int | None, int | None]:
        found = {d.session_id: d.entries for d in discover([root], counts=kept)}
        return found[UID], found[UID2]

    assert counts() == (2, 1)
    (old / "f9").write_bytes(b"x")  # the dir's mtime moves: counted again
    (fresh / "f9").write_bytes(b"x")
    same = os.stat(fresh).st_mtime_ns
    os.utime(fresh, ns=(same, same))
    assert counts() == (3, 2)
    # a change within the same timestamp tick as the last count: a count that young was never kept
    tick = os.stat(fresh).st_mtime_ns
    (fresh / "f8").write_bytes(b"x")
    os.utime(fresh, ns=(tick, tick))
    assert counts() == (3, 3)
    # reused indeed: an old dir changed behind the cache's back (mtime put back) keeps its count...
    later = past + 10**9  # not the mtime of the first count (2 entries)
    os.utime(old, ns=(later, later))
    assert counts() == (3, 3)
    (old / "f8").write_bytes(b"x")
    os.utime(old, ns=(later, later))
    assert counts() == (3, 3)
    # ...which a plain discover(), without counts, lists afresh
    assert {d.session_id: d.entries for d in discover([root])}[UID] == 4


def test_a_poller_s_discovery_reuses_unchanged_dirs_and_sees_every_change(tmp_path: Path) -> None:
    root = tmp_path / ".wwebjs_auth"
    a, b = mk(root / f"session-{UID}", files=2), mk(root / "session-not-a-uuid", files=1)
    past = os.stat(a).st_mtime_ns - 60 * 10**9
    for d in (a, b):
        os.utime(d, ns=(past, past))
    kept = EntryCounts()
    first = discover([root], counts=kept)
    second = discover([root], counts=kept)
    assert second == first == discover([root]) and all(x is y for x, y in zip(first, second, strict=True))
    shutil.rmtree(b)  # gone: not listed from memory
    assert [d.session_id for d in discover([root], counts=kept)] == [UID]
    shutil.rmtree(a)
    mk(a, files=5)  # the same name, a new dir (new inode, new mtime)
    [again] = discover([root], counts=kept)
    assert again.entries == 5 and again == discover([root])[0]


def test_size_only_when_asked_and_bounded(tmp_path: Path) -> None:
    root = tmp_path / "auth"
    d = mk(root / f"session-{UID}", files=3)
    mk(d / "Default", files=2)
    [sized] = discover([root], with_size=True)
    assert sized.size_bytes == 50
    [capped] = discover([root], with_size=True, max_files=2)
    assert capped.size_bytes is None


def test_id_rules() -> None:
    assert is_uuid(UID) and is_uuid(UID2) and not is_uuid(UID + "0") and not is_uuid("current-user")
    assert is_placeholder("current-user") and is_placeholder("test-user-1") and not is_placeholder(UID)
    assert salesboy_id_error(None) == "userId is required"
    assert salesboy_id_error("") == "userId is required"
    assert salesboy_id_error("test-user") == "invalid userId"
    assert salesboy_id_error("x") == "invalid userId format"
    assert salesboy_id_error(UID) is None


def test_delete_only_under_configured_roots(tmp_path: Path) -> None:
    root = tmp_path / "auth"
    target = mk(root / f"session-{UID}", files=2)
    orphan = mk(root / "session-current-user")
    outside = mk(tmp_path / "elsewhere" / f"session-{UID2}")
    ok, msg = delete_auth_dir([root], UID)
    assert ok and str(target) in msg and not target.exists()
    ok, msg = delete_auth_dir([root], UID)
    assert not ok and "no auth dir" in msg
    assert delete_auth_dir([root], "current-user")[0] and not orphan.exists()  # orphans can be cleaned up
    assert not delete_auth_dir([root], UID2)[0] and outside.exists()
    for evil in ("../elsewhere", "..", "a/b", ""):
        ok, _ = delete_auth_dir([root], evil)
        assert not ok
    assert outside.exists()


def test_delete_refuses_symlinked_dir(tmp_path: Path) -> None:
    root = tmp_path / "auth"
    root.mkdir()
    real = mk(tmp_path / "precious", files=1)
    (root / f"session-{UID}").symlink_to(real, target_is_directory=True)
    # a symlink is not followed by discovery, so it is not even a candidate
    assert discover([root]) == []
    ok, _ = delete_auth_dir([root], UID)
    assert not ok and real.exists() and (real / "f0").exists()


def test_pulse_delete(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    d = mk(root / "18765551234" / "session-pulse-bot-18765551234")
    ok, _ = delete_auth_dir([root], "18765551234", Layout.PULSE)
    assert ok and not d.exists()


def test_authdir_is_what_the_monitor_adapts() -> None:
    d = AuthDir("x", Path("/a/session-x"), Layout.SALESBOY, False, "r")
    assert (d.session_id, d.id, str(d.path), d.valid) == ("x", "x", "/a/session-x", False)


# --- unusable auth roots and log paths: a finding naming the path, never a traceback (issue 13, item 9) -------

_DROP_CAPS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
              "--inh-caps=-dac_override,-dac_read_search"]


def _unprivileged() -> list[str] | None:
    """A command prefix under which file modes apply (root ignores them), or None when none is available."""
    import shutil

    if os.geteuid() != 0:
        return []
    return _DROP_CAPS if shutil.which("setpriv") else None


def _bad_paths(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / "session-7c9e6679-7425-40de-944b-e07fc1f90ae7").mkdir()
    unreadable.chmod(0)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    afile = tmp_path / "afile"
    afile.write_text("x\n")
    return {"missing": (tmp_path / "nowhere", "does not exist"), "file": (afile, "is a file, not a directory"),
            "fifo": (fifo, "is a FIFO"), "unreadable": (unreadable, "permission denied")}


@pytest.mark.parametrize("kind", ["missing", "file", "fifo", "unreadable"])
def test_unusable_auth_root_is_a_finding_in_status_and_doctor(kind: str, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    path, words = _bad_paths(tmp_path)[kind]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
    env.update({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:9", "PULSE_TUI_AUTH_DIR": str(path),
                "XDG_STATE_HOME": str(tmp_path)})
    try:
        status = subprocess.run([*prefix, sys.executable, "-m", "pulse_tui", "status", "--json"], env=env,
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        doctor = subprocess.run([*prefix, sys.executable, "-m", "pulse_tui", "doctor"], env=env,
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        (tmp_path / "unreadable").chmod(0o700)
    assert "Traceback" not in status.stderr + doctor.stderr, status.stderr[-2000:] + doctor.stderr[-2000:]
    found = [f for f in json.loads(status.stdout)["findings"] if f["code"] == "sessions-auth-root-unusable"]
    assert len(found) == 1 and str(path) in found[0]["message"] and words in found[0]["message"]
    assert "Sessions  [" in doctor.stdout and "Sessions  [✔ ok]" not in doctor.stdout
    assert str(path) in doctor.stdout


def test_root_problem_names_each_case(tmp_path: Path) -> None:
    from pulse_tui.sources.authdirs import root_findings, root_problem

    paths = _bad_paths(tmp_path)
    (tmp_path / "unreadable").chmod(0o700)  # modes are the subprocess test's business
    good = mk(tmp_path / ".wwebjs_auth")
    assert root_problem(good) is None
    assert root_problem(paths["missing"][0]) == "does not exist"
    assert root_problem(paths["file"][0]) == "is a file, not a directory"
    assert root_problem(paths["fifo"][0]) == "is a FIFO, not a directory"
    found = root_findings([good, paths["fifo"][0]])
    assert [f.code for f in found] == ["sessions-auth-root-unusable"] and str(paths["fifo"][0]) in found[0].message
    assert discover([paths["fifo"][0], paths["file"][0], paths["missing"][0]]) == []


def test_never_restored_finding_names_the_real_dirs(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    root = tmp_path / ".wwebjs_auth"
    mk(root / "session-test-user-7")
    mk(root / "session-not-a-uuid-either")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_TUI_", "REDIS_"))}
    env.update({"PULSE_TUI_GATEWAY_URL": "http://127.0.0.1:9", "PULSE_TUI_AUTH_DIR": str(root),
                "XDG_STATE_HOME": str(tmp_path)})
    out = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--json"], env=env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    found = [f for f in json.loads(out.stdout)["findings"] if f["code"] == "auth-dir-never-restored"]
    assert len(found) == 1
    assert "current-user" not in json.dumps(found)
    assert set(found[0]["subjects"]) == {"test-user-7", "not-a-uuid-either"}
    text = subprocess.run([sys.executable, "-m", "pulse_tui", "status", "--once"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    line = next(ln for ln in text.splitlines() if "never restores" in ln)
    assert "test-user-7" in line and "current-user" not in line
