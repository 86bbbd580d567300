"""StatMemo: a reading is reused only while the path's stat is unchanged, and never when it changed just now."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pulse_tui.stat_memo import StatMemo


def _age(path: Path, seconds: float) -> os.stat_result:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return os.stat(path)


def test_a_reading_holds_until_the_file_changes(tmp_path: Path) -> None:
    f = tmp_path / "a.env"
    f.write_text("A=1\n")
    memo: StatMemo[str] = StatMemo()
    st = _age(f, 60)
    memo.put(str(f), st, "one line")
    assert memo.get(str(f), os.stat(f)) == "one line"
    f.write_text("A=1\nB=2\n")  # size and mtime change
    st2 = _age(f, 60)  # even with an old mtime again, the size tells
    assert memo.get(str(f), st2) is None
    memo.put(str(f), st2, "two lines")
    new = tmp_path / "a.env.new"  # same size, a new inode: how editors save (write a new file, rename it)
    new.write_text("A=1\nB=3\n")
    os.utime(new, ns=(st2.st_atime_ns, st2.st_mtime_ns))
    os.replace(new, f)
    st3 = os.stat(f)
    assert (st3.st_size, st3.st_mtime_ns) == (st2.st_size, st2.st_mtime_ns) and st3.st_ino != st2.st_ino
    assert memo.get(str(f), st3) is None


def test_a_path_changed_within_the_racy_window_is_not_kept(tmp_path: Path) -> None:
    d = tmp_path / "profile"
    d.mkdir()
    memo: StatMemo[int] = StatMemo()
    memo.put(str(d), os.stat(d), 0)  # just created: its mtime is now
    assert memo.get(str(d), os.stat(d)) is None
    st = _age(d, 10)
    memo.put(str(d), st, 0)
    assert memo.get(str(d), st) == 0
    memo.drop(str(d))
    assert memo.get(str(d), st) is None


def test_it_starts_again_when_full(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_text("x")
    st = _age(f, 60)
    memo: StatMemo[int] = StatMemo()
    memo.MAX_PATHS = 3
    for i in range(3):
        memo.put(f"p{i}", st, i)
    assert memo.get("p2", st) == 2
    memo.put("p3", st, 3)
    assert memo.get("p0", st) is None and memo.get("p3", st) == 3
