"""LogFollower against real files: backlog, rotations of every kind, partial and odd lines, idle backoff."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse_tui.clock import FakeClock
from pulse_tui.sources.logs import LogFollower, LogLine, Redactor, default_log_globs
from pulse_tui.sources.logs.line import MAX_LINE_CHARS


def append(path: Path, *lines: str, end: str = "\n") -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + end for line in lines))


async def drain(f: LogFollower, polls: int = 20) -> list[str]:
    """Poll until a poll brings nothing (a bounded batch may need several polls)."""
    out: list[str] = []
    for _ in range(polls):
        batch = await f.poll()
        if not batch and not f._more:
            break
        out += [ln.text for ln in batch]
    return out


def seq(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(start, start + n)]


@pytest.fixture
async def make(tmp_path: Path):
    made: list[LogFollower] = []

    def _make(*globs: str, **kw) -> LogFollower:
        kw.setdefault("base_dir", tmp_path)
        f = LogFollower(list(globs), **kw)
        made.append(f)
        return f

    yield _make
    for f in made:
        await f.aclose()


async def test_starts_from_last_lines_then_follows(tmp_path: Path, make) -> None:
    log = tmp_path / "app.log"
    append(log, *seq("old", 50))
    f = make("app.log", start_lines=10)
    assert await drain(f) == seq("old", 10, 40)
    append(log, *seq("new", 3))
    assert await drain(f) == seq("new", 3)
    assert await drain(f) == []


async def test_missing_at_start_then_created_is_read_from_its_start(tmp_path: Path, make) -> None:
    f = make("later.log", "logs/*.log")
    assert await drain(f) == []
    append(tmp_path / "later.log", "a", "b")
    (tmp_path / "logs").mkdir()
    append(tmp_path / "logs" / "x.log", "c")
    got = await drain(f)
    assert sorted(got) == ["a", "b", "c"]


async def test_partial_line_is_held_until_its_newline(tmp_path: Path, make) -> None:
    log = tmp_path / "p.log"
    append(log, "first")
    with log.open("a") as fh:
        fh.write("sec")
    f = make("p.log")
    assert await drain(f) == ["first"]
    with log.open("a") as fh:
        fh.write("ond half")
    assert await drain(f) == []
    with log.open("a") as fh:
        fh.write(" done\nthird\n")
    assert await drain(f) == ["second half done", "third"]


async def test_copytruncate_loses_and_repeats_nothing(tmp_path: Path, make) -> None:
    log = tmp_path / "pm2-out.log"
    append(log, *seq("a", 20))
    f = make("pm2-out.log")
    got = await drain(f)
    append(log, *seq("b", 7))  # written after our last check, before the rotation
    shutil.copyfile(log, tmp_path / "pm2-out.log.1")
    with log.open("r+") as fh:
        fh.truncate(0)
    append(log, *seq("c", 3))
    got += await drain(f)
    assert got == seq("a", 20) + seq("b", 7) + seq("c", 3)
    assert f.stats.truncations == 1
    append(log, "d")
    assert await drain(f) == ["d"]


async def test_copytruncate_regrown_past_our_offset_is_detected(tmp_path: Path, make) -> None:
    log = tmp_path / "pm2-error.log"
    append(log, *seq("a", 5))
    f = make("pm2-error.log")
    got = await drain(f)
    append(log, "b-late")
    shutil.copyfile(log, tmp_path / "pm2-error.log.1")
    with log.open("r+") as fh:
        fh.truncate(0)
    append(log, *seq("c-much-longer-than-before", 40))  # the file is now bigger than where we were
    got += await drain(f)
    assert got == seq("a", 5) + ["b-late"] + seq("c-much-longer-than-before", 40)


async def test_copytruncate_copy_matching_the_glob_is_not_read_twice(tmp_path: Path, make) -> None:
    # pm2-logrotate names its copies pm2-out__<date>.log: the follower's own glob matches them
    log = tmp_path / "pm2-out.log"
    append(log, *seq("2026-11-25 08:00:00 +00:00: a", 10))
    f = make("pm2-*.log")
    got = await drain(f)
    append(log, "2026-11-25 08:00:01 +00:00: b")
    shutil.copyfile(log, tmp_path / "pm2-out__2026-11-25_08-00-02.log")
    with log.open("r+") as fh:
        fh.truncate(0)
    append(log, "2026-11-25 08:00:03 +00:00: c")
    got += await drain(f)
    assert got == seq("a", 10) + ["b", "c"]


async def test_rename_and_recreate_finishes_the_old_file(tmp_path: Path, make) -> None:
    log = tmp_path / "gateway.log"
    append(log, *seq("a", 5))
    f = make("gateway.log")
    got = await drain(f)
    with log.open("a") as old_writer:
        old_writer.write("b-before-rename\n")
        old_writer.flush()
        os.rename(log, tmp_path / "gateway.log.1")
        append(log, *seq("c", 2))
        got += await drain(f)
        old_writer.write("b-late-write-to-old-fd\n")  # a writer that has not reopened yet
    got += await drain(f)
    append(log, "d")
    got += await drain(f)
    assert got[:6] == seq("a", 5) + ["b-before-rename"]
    assert sorted(got[6:]) == sorted(["b-late-write-to-old-fd", *seq("c", 2), "d"])
    assert got.index("c-00000") < got.index("d")
    assert f.stats.rotations == 1


async def test_renamed_file_still_matching_the_glob_is_not_read_twice(tmp_path: Path, make) -> None:
    log = tmp_path / "pm2-out.log"
    append(log, *seq("a", 5))
    f = make("pm2-*.log")
    got = await drain(f)
    append(log, "b")
    os.rename(log, tmp_path / "pm2-out-rotated.log")
    append(log, "c")
    got += await drain(f)
    got += await drain(f)
    assert sorted(got) == sorted([*seq("a", 5), "b", "c"])
    assert len(got) == len(set(got))


async def test_delete_then_recreate_later(tmp_path: Path, make) -> None:
    clock = FakeClock()
    log = tmp_path / "app.log"
    append(log, "a")
    f = make("app.log", clock=clock, retire_after_s=5)
    got = await drain(f)
    append(log, "b")  # written just before the delete: still read through the open fd
    log.unlink()
    got += await drain(f)
    clock.advance(10)
    got += await drain(f)  # the deleted file is closed now
    assert f.paths == []
    append(log, "c", "d")
    got += await drain(f)
    assert got == ["a", "b", "c", "d"]


async def test_new_dated_file_is_read_from_its_start(tmp_path: Path, make) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    day1 = logs / "gateway-2026-11-25.log"
    line = '{{"level":"info","message":"{m}","timestamp":"2026-11-2{d}T23:59:59.000Z"}}'
    append(day1, *[line.format(m=f"day1-{i}", d=5) for i in range(3)])
    f = make("logs/gateway-*.log")
    assert await drain(f) == ["day1-0", "day1-1", "day1-2"]
    # the new day's first line is the same message as the old day's: only the timestamp differs
    append(logs / "gateway-2026-11-26.log", line.format(m="day1-0", d=6), line.format(m="day2-1", d=6))
    append(day1, line.format(m="day1-late", d=5))
    got = await drain(f)
    assert sorted(got) == ["day1-0", "day1-late", "day2-1"]


async def test_random_rotations_never_lose_or_repeat_a_line(tmp_path: Path, make) -> None:
    """Writes, checks and rotations of all three kinds, interleaved at random. Only a generation the follower
    has read something of is rotated, at most once between two checks: a file that is born and rotated away
    between two checks (or copied-and-truncated while still empty at our last check) leaves nothing to find."""
    rng = random.Random(7)
    log = tmp_path / "pm2-out.log"
    clock = FakeClock()
    f = make("pm2-out.log", clock=clock, retire_after_s=1)
    written: list[str] = []
    got: list[str] = []
    n = 0
    rotated_since_poll = False
    gen_written = gen_seen = False
    kinds: set[str] = set()
    for step in range(300):
        for _ in range(rng.randint(0, 8)):
            append(log, f"2026-11-25 08:00:00 +00:00: step{step:03d} line {n:05d}")
            written.append(f"step{step:03d} line {n:05d}")
            gen_written = True
            n += 1
        op = rng.random()
        did = ""
        if not rotated_since_poll and gen_seen and log.exists():
            if op < 0.15:
                shutil.copyfile(log, tmp_path / f"pm2-out.log.{step}")
                with log.open("r+") as fh:
                    fh.truncate(0)
                did = "copytruncate"
            elif 0.15 <= op < 0.3:
                os.rename(log, tmp_path / f"pm2-out.log.{step}")
                did = "rename"
            elif 0.3 <= op < 0.35:
                log.unlink()
                did = "delete"
        if did:
            kinds.add(did)
            rotated_since_poll = True
            gen_written = gen_seen = False
        if rng.random() < 0.5:
            got += await drain(f)
            clock.advance(0.5)
            rotated_since_poll = False
            gen_seen = gen_seen or gen_written
    got += await drain(f)
    assert kinds == {"copytruncate", "rename", "delete"}
    assert len(written) > 500
    assert got == written


async def test_backlog_of_a_large_file_reads_only_its_end(tmp_path: Path, make) -> None:
    big = tmp_path / "big.log"
    filler = b"".join(b"2026-11-25 08:00:00 +00:00: filler line %06d padding padding padding\n" % i
                      for i in range(1000))
    with big.open("wb") as fh:
        for _ in range(50 * 1024 * 1024 // len(filler) + 1):
            fh.write(filler)
        fh.write("".join(f"tail {i}\n" for i in range(1000)).encode())
    assert big.stat().st_size >= 50 * 1024 * 1024
    f = make("big.log", start_lines=500)
    lines = await f.poll()
    assert [ln.text for ln in lines] == [f"tail {i}" for i in range(500, 1000)]
    assert f.stats.bytes_read < 200 * 1024  # a few 64 KiB blocks, not 50 MB
    append(big, "after")
    assert await drain(f) == ["after"]
    assert f.stats.bytes_read < 200 * 1024


async def test_invalid_utf8_and_huge_line(tmp_path: Path, make) -> None:
    log = tmp_path / "odd.log"
    f = make("odd.log")
    await drain(f)
    with log.open("ab") as fh:
        fh.write(b"bad \xff\xfe bytes\n")
        fh.write(b"x" * (1024 * 1024) + b"\n")
        fh.write(b"after the big one\n")
    got = []
    for _ in range(5):
        got += await f.poll()
    assert got[0].text == "bad \ufffd\ufffd bytes"
    big = got[1]
    assert big.truncated
    assert big.text.startswith("x" * 100) and len(big.text) <= MAX_LINE_CHARS + 20
    assert got[2].text == "after the big one" and not got[2].truncated
    assert len(got) == 3


async def test_huge_line_arriving_in_pieces_is_capped_while_held(tmp_path: Path, make) -> None:
    log = tmp_path / "slow.log"
    f = make("slow.log")
    await drain(f)
    for _ in range(20):
        with log.open("a") as fh:
            fh.write("y" * 100_000)
        await f.poll()
    held = f._files[str(log)].partial
    assert len(held) <= 4 * MAX_LINE_CHARS + 4  # memory stays bounded while waiting for the newline
    append(log, "", "next")
    got = await f.poll()
    assert [ln.truncated for ln in got] == [True, False]
    assert got[1].text == "next"


class _RawFollower(LogFollower):
    """Keeps the raw lines and their cut flags as the follower hands them to the parser."""

    def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003 - LogFollower's own
        super().__init__(*args, **kw)
        self.raw: list[tuple[bytes, bool]] = []

    def _parse(self, f, lines: list[bytes], flags: list[bool]) -> list[LogLine]:  # noqa: ANN001 - a _File
        self.raw += zip(lines, flags, strict=True)
        return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from([b"a", b"\xe2\x82\xac", b"\r", b"\n", b"b" * 20]), max_size=12).map(b"".join),
                max_size=10))
def test_lines_split_and_capped_the_same_however_the_bytes_arrive(tmp_path: Path, chunks: list[bytes]) -> None:
    """Every complete line comes out once, cut at the byte cap and flagged when it was longer, whether it
    arrived in one read or in pieces (a held partial line, lines over the cap, the usual short lines)."""
    log = tmp_path / "split.log"
    log.write_bytes(b"")
    f = _RawFollower([str(log)], max_line_chars=3)  # a byte cap of 16
    cap = 4 * 3 + 4
    try:
        f.poll_sync()
        for chunk in chunks:
            with log.open("ab") as fh:
                fh.write(chunk)
            f.poll_sync()
    finally:
        for held in f._files.values():
            os.close(held.fd)
    whole = b"".join(chunks).split(b"\n")[:-1]
    assert f.raw == [(line[:cap], len(line) > cap) for line in whole]


async def test_lines_are_redacted_and_parsed(tmp_path: Path, make) -> None:
    log = tmp_path / "pm2-error.log"
    append(log, "2026-11-25 08:01:02 +00:00: calling with x-api-key: hunter2hunter2",
           "2026-11-25 08:01:03 +00:00: something odd")
    f = make("pm2-error.log", redactor=Redactor(["hunter2hunter2"]))
    got: list[LogLine] = await f.poll()
    assert "hunter2" not in got[0].text and "[redacted]" in got[0].text
    assert got[0].at is not None and got[1].at == got[0].at + 1
    assert got[1].level == "error"  # pm2's stderr file: undeclared levels count as errors
    assert got[0].source == "pm2-error.log"


async def test_idle_backoff_then_fast_after_activity(tmp_path: Path) -> None:
    log = tmp_path / "idle.log"
    append(log, "x")
    sleeps: list[float] = []
    f: LogFollower

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 8:
            append(log, "y")
        if len(sleeps) >= 12:
            await f.aclose()

    f = LogFollower([str(log)], sleep=fake_sleep)
    batches: list[list[str]] = []
    await f.run(lambda b: batches.append([ln.text for ln in b]))
    assert batches == [["x"], ["y"]]
    assert sleeps[0] == pytest.approx(0.1)
    assert sleeps[6] == pytest.approx(1.0) and max(sleeps) == pytest.approx(1.0)  # idle: capped at 1 s
    assert sleeps[8] == pytest.approx(0.1)  # activity: fast again
    assert min(sleeps) > 0  # never a busy loop when idle


async def test_bounded_batches(tmp_path: Path, make) -> None:
    log = tmp_path / "many.log"
    f = make("many.log", max_batch_lines=1000, max_read_bytes=8 * 1024)
    await drain(f)
    append(log, *seq("m", 5000))
    first = await f.poll()
    assert 0 < len(first) <= 1000
    rest = await drain(f, polls=100)
    assert [ln.text for ln in first] + rest == seq("m", 5000)


async def test_same_file_through_two_globs_is_followed_once(tmp_path: Path, make) -> None:
    log = tmp_path / "one.log"
    append(log, "a")
    os.symlink(log, tmp_path / "link.log")
    f = make("one.log", "*.log")
    assert await drain(f) == ["a"]
    append(log, "b")
    assert await drain(f) == ["b"]


def test_default_log_globs_finds_existing_defaults(tmp_path: Path) -> None:
    gw = tmp_path / "salesboy-gateway"
    (gw / "logs").mkdir(parents=True)
    (gw / ".wwebjs_auth").mkdir()
    append(gw / "logs" / "gateway-2026-11-25.log", "x")
    append(gw / "logs" / "pm2-out.log", "x")
    home = tmp_path / "home"
    (home / ".pm2" / "logs").mkdir(parents=True)
    append(home / ".pm2" / "logs" / "salesboy-gateway-error.log", "x")
    pulse = tmp_path / "opt-pulse"
    globs = default_log_globs([gw / ".wwebjs_auth"], home=home, pulse_dir=pulse)
    assert str(gw / "logs" / "gateway-*.log") in globs
    assert str(gw / "logs" / "pm2-*.log") in globs
    assert str(home / ".pm2" / "logs" / "salesboy-gateway-error*.log") in globs
    assert not any(str(pulse) in g for g in globs)  # nothing there: not listed
    every = default_log_globs([], home=home, pulse_dir=pulse, only_existing=False)
    assert str(pulse / "logs" / "pm2-*.log") in every and str(pulse / "logs" / "pulse-*.log") in every


async def test_unreadable_file_is_reported_and_taken_up_once_readable(tmp_path: Path, make) -> None:
    log = tmp_path / "pulse-error.log"
    append(log, "a")
    denied = {str(log)}

    def opener(path: str) -> int:
        if path in denied:
            raise PermissionError(13, "Permission denied", path)
        return os.open(path, os.O_RDONLY)

    f = make("pulse-*.log", opener=opener)
    assert await drain(f) == []
    assert f.problems == {str(log): "Permission denied"}
    denied.clear()
    append(log, "b")
    assert await drain(f) == ["a", "b"]  # not there at start as far as we could tell: read from its start
    assert f.problems == {}


async def test_old_files_of_a_glob_get_no_backlog(tmp_path: Path, make) -> None:
    old = tmp_path / "gateway-2026-11-20.log"
    new = tmp_path / "gateway-2026-11-25.log"
    append(old, "old day")
    append(new, "today")
    five_days_ago = new.stat().st_mtime - 5 * 86400
    os.utime(old, (five_days_ago, five_days_ago))
    f = make("gateway-*.log")
    assert await drain(f) == ["today"]
    append(old, "late write to an old file")  # still followed from its end
    assert await drain(f) == ["late write to an old file"]


async def test_backlog_of_several_files_is_merged_by_time(tmp_path: Path, make) -> None:
    append(tmp_path / "pm2-out.log", "2026-11-25 08:00:01 +00:00: out 1", "2026-11-25 08:00:03 +00:00: out 3")
    append(tmp_path / "pm2-error.log", "2026-11-25 08:00:02 +00:00: err 2")
    f = make("pm2-*.log")
    assert await drain(f) == ["out 1", "err 2", "out 3"]
