"""Follows log files and globs like `tail -F`, without losing or repeating lines across rotations.

Start: the last `start_lines` lines of each file, found by reading BACKWARDS from the end in blocks (a 1 GB
file opens as fast as a 1 KB one). Then each poll reads what was appended, and copes with:
- copytruncate (pm2-logrotate): same inode, size shrinks (or the bytes before our offset changed) → the
  bytes written between our last read and the truncation are taken from the copy beside it, then the file
  is read from 0;
- rename-and-recreate / delete-and-recreate: the old file is drained through the still-open fd (and kept
  open a while for late writes), then the new file is read from its start;
- a new file matching a glob (winston's `gateway-YYYY-MM-DD.log`) or one missing at start: read from 0;
- partial last lines (held until the newline), invalid UTF-8 (replacement chars), huge lines (capped).

Plain polling with backoff: 0.1 s after activity, doubling to 1 s when idle. File I/O runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob as globmod
import os
import stat as statmod
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pulse_tui.clock import Clock, SystemClock
from pulse_tui.findings import finding
from pulse_tui.model import Finding
from pulse_tui.sources.authdirs import file_kind, stat_or_problem
from pulse_tui.sources.logs.line import ERROR, MAX_LINE_CHARS, LogLine
from pulse_tui.sources.logs.parse import parse_line
from pulse_tui.sources.logs.redact import Redactor

BLOCK = 64 * 1024
HEAD_BYTES = 1024  # identifies a file generation (a copy made by copytruncate starts with the same bytes)
PRINT_BYTES = 64  # the bytes just before our offset: if they change, the file was truncated and rewritten
RETIRE_AFTER_S = 30.0  # keep a rotated-away file open this long after its last write, for late writers
BACKLOG_WINDOW_S = 86_400.0  # files older than the newest match of their glob by more than this get no backlog

Opener = Callable[[str], int]
_NOT_YET = -1


def _default_open(path: str) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))


@dataclass
class FollowerStats:
    """Counters for tests, the bench and a status line."""

    bytes_read: int = 0
    lines: int = 0
    truncated_lines: int = 0
    polls: int = 0
    rotations: int = 0  # rename/delete + recreate
    truncations: int = 0  # copytruncate
    recovered_bytes: int = 0  # read from a copytruncate copy
    files: int = 0  # files currently followed


@dataclass
class _File:
    path: str
    fd: int
    dev_ino: tuple[int, int]
    offset: int = 0  # bytes consumed (the partial line below included)
    head: bytes = b""  # first HEAD_BYTES of this generation, as far as read
    fingerprint: bytes = b""  # last PRINT_BYTES before offset
    partial: bytearray = field(default_factory=bytearray)
    overflow: bool = False  # the partial line passed the byte cap: the rest until newline is dropped
    last_data: float = 0.0  # monotonic time of the last bytes read
    retired: bool = False  # its path now names another file (or none): drained until quiet, then closed


def default_log_globs(
    auth_roots: Iterable[str | os.PathLike[str]] = (),
    cwd: str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
    pm2_homes: Iterable[str | os.PathLike[str]] = (),
    pulse_dir: str | os.PathLike[str] = "/opt/pulse",
    only_existing: bool = True,
) -> list[str]:
    """The Salesboy and Pulse default log globs that match something now (all of them with only_existing=False).

    The gateway's cwd is the parent of its auth root (`<cwd>/.wwebjs_auth`, Pulse `<dir>/whatsapp-sessions`).
    """
    base_dirs: list[Path] = []
    for root in auth_roots:
        base_dirs.append(Path(root).expanduser().parent)
    if cwd is not None:
        base_dirs.append(Path(cwd).expanduser())
    homes = [Path(h).expanduser() for h in pm2_homes]
    user_home = Path(home).expanduser() if home is not None else Path.home()
    homes += [user_home / ".pm2", Path("/home/pulse/.pm2")]
    pulse = Path(pulse_dir)
    candidates: list[str] = []
    for d in base_dirs:
        candidates += [str(d / "logs" / "gateway-*.log"), str(d / "logs" / "pm2-*.log"), str(d / "logs" / "pulse-*.log")]
    candidates += [str(pulse / "logs" / "pm2-*.log"), str(pulse / "logs" / "pulse-*.log")]
    for h in homes:
        candidates += [str(h / "logs" / "salesboy-gateway-out*.log"), str(h / "logs" / "salesboy-gateway-error*.log"),
                       str(h / "logs" / "pulse-*.log")]
    out: list[str] = []
    for c in candidates:
        if c in out:
            continue
        if not only_existing or globmod.glob(c):
            out.append(c)
    return out


def log_path_problem(pattern: str) -> str | None:
    """Why a configured log path or glob yields nothing to follow, or None when it does. Never opens a file
    (opening a FIFO would block)."""
    if globmod.has_magic(pattern):
        try:
            matches = globmod.glob(os.path.expanduser(pattern))
        except (OSError, ValueError):
            matches = []
        if not matches:
            return "matches no file"
        if not any(_stat(p) is not None for p in matches):
            return "matches no regular file"
        return None
    st = stat_or_problem(os.path.expanduser(pattern))
    if isinstance(st, str):
        return st
    if not statmod.S_ISREG(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a regular file"
    if not os.access(os.path.expanduser(pattern), os.R_OK):
        return "cannot be read (permission denied)"
    return None


def log_path_findings(patterns: Sequence[str]) -> list[Finding]:
    """One finding per configured log path or glob that gives no line (missing, a dir, a FIFO, unreadable)."""
    out: list[Finding] = []
    for pattern in patterns:
        problem = log_path_problem(pattern)
        if problem is not None:
            out.append(finding(
                "log-path-unusable", f"The log path {pattern} (PULSE_TUI_LOGS) {problem}: its lines are not read.",
                "Name the gateway's pm2 or winston log files (globs allowed), readable by the user running "
                "pulse-tui."))
    return out


def _stat(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if statmod.S_ISREG(st.st_mode) else None


class LogFollower:
    """Follows files and globs; `poll()` returns the next batch of redacted LogLines.

    Use `run(callback)` or `async for batch in follower` to follow forever; `aclose()` releases the files.
    """

    def __init__(
        self,
        globs: Sequence[str | os.PathLike[str]],
        *,
        start_lines: int = 500,
        redactor: Redactor | None = None,
        clock: Clock | None = None,
        opener: Opener | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        max_batch_lines: int = 20_000,
        max_read_bytes: int = 4 * 1024 * 1024,
        max_line_chars: int = MAX_LINE_CHARS,
        backlog_max_bytes: int = 8 * 1024 * 1024,
        min_interval_s: float = 0.1,
        max_interval_s: float = 1.0,
        retire_after_s: float = RETIRE_AFTER_S,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.globs = [self._absolute(str(g), base) for g in globs]
        self.start_lines = start_lines
        self.redactor = redactor or Redactor()
        self.clock = clock or SystemClock()
        self.stats = FollowerStats()
        self.problems: dict[str, str] = {}  # path -> why it cannot be read (permission denied…), for the UI
        self._open = opener or _default_open
        self._max_batch_lines = max_batch_lines
        self._max_read = max_read_bytes
        self._max_chars = max_line_chars
        # 4 bytes per char at most in UTF-8: the byte cap always holds max_chars characters
        self._max_line_bytes = 4 * max_line_chars + 4
        self._backlog_max_bytes = backlog_max_bytes
        self._min_interval = min_interval_s
        self._max_interval = max_interval_s
        self._interval = min_interval_s
        self._retire_after = retire_after_s
        self._sleep = sleep
        self._files: dict[str, _File] = {}  # active, by path
        self._retired: list[_File] = []
        # closed files we may meet again under a new name: (dev, ino) -> (head, consumed offset)
        self._forgotten: OrderedDict[tuple[int, int], tuple[bytes, int]] = OrderedDict()
        # generations that were truncated: (head, consumed offset) — to recognise their copies
        self._past: list[tuple[bytes, int]] = []
        self._started = False
        self._closed = False
        self._more = False  # the last poll stopped at a bound: poll again without sleeping
        self._rr = 0  # round-robin start, so one busy file cannot starve the others
        self._io_lock = asyncio.Lock()

    @staticmethod
    def _absolute(pattern: str, base: Path) -> str:
        pattern = os.path.expanduser(pattern)
        return pattern if os.path.isabs(pattern) else str(base / pattern)

    # --- public API ------------------------------------------------------------------

    @property
    def paths(self) -> list[str]:
        """The files followed now."""
        return sorted(self._files)

    async def poll(self) -> list[LogLine]:
        """One check of every file: new lines since the last check (at most max_batch_lines)."""
        if self._closed:
            return []
        async with self._io_lock:
            return await asyncio.to_thread(self.poll_sync)

    def poll_sync(self) -> list[LogLine]:
        """`poll` without the thread, for callers that are already off the event loop."""
        self.stats.polls += 1
        raws: list[tuple[_File, list[bytes], list[bool]]] = []
        if not self._started:
            self._started = True
            out = self._start()
        else:
            out = []
            self._more = False
            budget = [self._max_read, self._max_batch_lines]
            self._check_active(raws, budget)
            self._check_new(raws, budget)
            self._check_retired(raws, budget)
            for f, chunk, flags in raws:
                out.extend(self._parse(f, chunk, flags))
        self.stats.files = len(self._files)
        return out

    async def run(self, callback: Callable[[list[LogLine]], object]) -> None:
        """Poll forever, calling `callback` with each non-empty batch; sleeps 0.1 s → 1 s as it goes idle."""
        async for batch in self:
            result = callback(batch)
            if asyncio.iscoroutine(result):
                await result

    def __aiter__(self) -> AsyncIterator[list[LogLine]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[LogLine]]:
        while not self._closed:
            batch = await self.poll()
            if batch:
                self._interval = self._min_interval
                yield batch
            else:
                self._interval = min(self._max_interval, self._interval * 2)
            if self._more:
                await self._sleep(0)  # a bound was hit: more is waiting, only let others run
            else:
                await self._sleep(self._interval)

    async def aclose(self) -> None:
        """Stop and close every file."""
        self._closed = True
        async with self._io_lock:
            for f in list(self._files.values()) + self._retired:
                with contextlib.suppress(OSError):
                    os.close(f.fd)
            self._files.clear()
            self._retired.clear()

    # --- discovery -------------------------------------------------------------------

    def _matches(self) -> list[str]:
        seen: dict[str, None] = {}
        for pattern in self.globs:
            if globmod.has_magic(pattern):
                for p in sorted(globmod.glob(pattern)):
                    seen.setdefault(p, None)
            else:
                seen.setdefault(pattern, None)
        return list(seen)

    def _start(self) -> list[LogLine]:
        """First poll: open every file that exists and take its last lines, oldest file first."""
        found: list[tuple[str, os.stat_result, str]] = []
        for pattern in self.globs:
            paths = sorted(globmod.glob(pattern)) if globmod.has_magic(pattern) else [pattern]
            stats = [(p, st) for p in paths if (st := _stat(p)) is not None]
            newest = max((st.st_mtime for _, st in stats), default=0.0)
            for p, st in stats:
                found.append((p, st, "tail" if newest - st.st_mtime <= BACKLOG_WINDOW_S else "end"))
        found.sort(key=lambda t: t[1].st_mtime)
        out: list[LogLine] = []
        for path, _st, mode in found:
            if path in self._files:
                continue
            f = self._open_file(path)
            if f is None:
                continue
            if self._active_with(f.dev_ino, exclude=path) is not None:
                os.close(f.fd)  # the same file under two names (a symlink, two globs): follow it once
                continue
            self._files[path] = f
            size = os.fstat(f.fd).st_size
            f.head = self._pread(f.fd, min(HEAD_BYTES, size), 0)
            lines = self._tail(f, size, self.start_lines if mode == "tail" else 0)
            out.extend(self._parse(f, lines, [False] * len(lines)))
        if len({ln.source for ln in out}) > 1:
            out = _merge_by_time(out)
        return out

    def _tail(self, f: _File, size: int, n: int) -> list[bytes]:
        """Read backwards from the end until n complete lines are found; set the offset after the last one."""
        pos = size
        chunks: list[bytes] = []
        newlines = 0
        got = 0
        # n + 1 newlines bound n complete lines; also find at least the last newline for the offset
        while pos > 0 and newlines <= n and got < self._backlog_max_bytes:
            step = min(BLOCK, pos)
            pos -= step
            data = self._pread(f.fd, step, pos)
            chunks.append(data)
            got += len(data)
            newlines += data.count(b"\n")
        buf = b"".join(reversed(chunks))
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            # no complete line in reach: start after what we saw if it is a huge partial line
            f.offset = pos if pos == 0 else size
            f.overflow = pos > 0
            f.fingerprint = buf[-PRINT_BYTES:] if f.overflow else b""
            return []
        f.offset = pos + last_nl + 1
        f.fingerprint = buf[max(0, last_nl + 1 - PRINT_BYTES): last_nl + 1]
        lines = buf[:last_nl].split(b"\n")
        if pos > 0:
            lines = lines[1:]  # the first piece starts mid-line
        return lines[-n:] if n > 0 else []

    def _active_with(self, dev_ino: tuple[int, int], exclude: str | None = None) -> _File | None:
        for p, f in self._files.items():
            if f.dev_ino == dev_ino and p != exclude:
                return f
        return None

    def _open_file(self, path: str) -> _File | None:
        try:
            fd = self._open(path)
        except OSError as exc:
            self.problems[path] = exc.strerror or str(exc)  # e.g. pm2 logs of another user: say so
            return None
        self.problems.pop(path, None)
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return _File(path=path, fd=fd, dev_ino=(st.st_dev, st.st_ino), last_data=self.clock.monotonic())

    # --- each poll -------------------------------------------------------------------

    def _check_active(self, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        paths = list(self._files)
        if paths:
            self._rr = (self._rr + 1) % len(paths)
            paths = paths[self._rr:] + paths[: self._rr]
        for path in paths:
            try:
                self._check_one(path, raws, budget)
            except OSError as exc:  # an I/O error on one file must not stop the others
                self.problems[path] = exc.strerror or str(exc)

    def _check_one(self, path: str, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        """One followed path: new bytes, or its name now points at another file (or none)."""
        f = self._files.get(path)
        if f is None:
            return
        st = _stat(path)
        if st is not None and (st.st_dev, st.st_ino) == f.dev_ino:
            self._read_new(f, st.st_size, raws, budget)
            return
        # The name now points elsewhere (or nowhere): finish the old file through our fd, keep it a while.
        del self._files[path]
        self.stats.rotations += 1
        f.retired = True
        self._drain(f, raws, budget)
        self._retired.append(f)
        if st is not None:
            g = self._open_file(path)
            if g is not None:
                self._files[path] = g
                self._read_new(g, os.fstat(g.fd).st_size, raws, budget)

    def _check_new(self, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        for path in self._matches():
            if path in self._files:
                continue
            try:
                self._take_up(path, raws, budget)
            except OSError as exc:
                self.problems[path] = exc.strerror or str(exc)

    def _take_up(self, path: str, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        """A path our globs match that we do not follow yet: a new file, or one we met under another name."""
        st = _stat(path)
        if st is None:
            return
        dev_ino = (st.st_dev, st.st_ino)
        if self._active_with(dev_ino) is not None:
            return
        old = next((r for r in self._retired if r.dev_ino == dev_ino), None)
        if old is not None:
            # a rotated file renamed to a name our globs match: it is the one we hold open
            self._retired.remove(old)
            old.retired, old.path = False, path
            self._files[path] = old
            return
        f = self._open_file(path)
        if f is None:
            return
        size = os.fstat(f.fd).st_size
        head = self._pread(f.fd, min(HEAD_BYTES, size), 0)
        f.head = head
        resume = self._known_offset(f.dev_ino, head, size)
        if resume == _NOT_YET:
            os.close(f.fd)  # a copy still being written: take it up once it has caught up
            return
        if resume is not None:
            f.offset = resume
            f.head = head
            if resume > 0:
                f.fingerprint = self._pread(f.fd, min(PRINT_BYTES, resume), resume - min(PRINT_BYTES, resume))
        self._files[path] = f
        self._read_new(f, size, raws, budget)

    def _known_offset(self, dev_ino: tuple[int, int], head: bytes, size: int) -> int | None:
        """Where to resume a file we met before (a renamed or copied one), or None for a new file."""
        known = self._forgotten.get(dev_ino)
        if known is not None and head and known[0] == head[: len(known[0])] and size >= known[1]:
            return known[1]
        for past_head, consumed in self._past:
            if _same_start(past_head, head):
                return min(consumed, size)
        for f in self._files.values():
            if _same_start(f.head, head):
                # a copy of an active file that is about to be truncated: what we read there is read
                return f.offset if size >= f.offset else _NOT_YET
        return None

    def _check_retired(self, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        now = self.clock.monotonic()
        for f in list(self._retired):
            try:
                self._drain(f, raws, budget)
                drained = os.fstat(f.fd).st_size <= f.offset
            except OSError:
                drained = True
            if drained and now - f.last_data >= self._retire_after:
                self._retired.remove(f)
                self._flush_partial(f, raws)
                with contextlib.suppress(OSError):
                    os.close(f.fd)
                self._forgotten[f.dev_ino] = (f.head, f.offset)
                while len(self._forgotten) > 1000:
                    self._forgotten.popitem(last=False)

    def _drain(self, f: _File, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        try:
            size = os.fstat(f.fd).st_size
        except OSError:
            return
        if size > f.offset:
            self._read_range(f, f.offset, size, raws, budget)

    def _read_new(self, f: _File, size: int, raws: list[tuple[_File, list[bytes], list[bool]]],
                  budget: list[int]) -> None:
        if size == f.offset:
            return
        truncated = size < f.offset
        if not truncated and f.fingerprint:
            # verify the bytes before our offset in the same read as the new bytes
            start = f.offset - len(f.fingerprint)
            got = self._pread(f.fd, len(f.fingerprint), start)
            truncated = got != f.fingerprint
        if truncated:
            self._truncated(f, raws, budget)
            size = os.fstat(f.fd).st_size
        if size > f.offset:
            self._read_range(f, f.offset, size, raws, budget)

    def _truncated(self, f: _File, raws: list[tuple[_File, list[bytes], list[bool]]], budget: list[int]) -> None:
        """copytruncate: take what we missed from the copy beside the file, then start the new generation at 0."""
        self.stats.truncations += 1
        copy = self._find_copy(f)
        if copy is not None:
            path, size = copy
            try:
                fd = self._open(path)
            except OSError:
                fd = -1
            if fd >= 0:
                try:
                    before = f.offset
                    self._read_range(f, f.offset, size, raws, budget, fd=fd, unbounded=True)
                    self.stats.recovered_bytes += f.offset - before
                finally:
                    os.close(fd)
        self._flush_partial(f, raws)
        if f.head:
            self._past.append((f.head, f.offset))
            del self._past[:-20]
        f.offset, f.head, f.fingerprint = 0, b"", b""

    def _find_copy(self, f: _File) -> tuple[str, int] | None:
        """The rotated copy of f's old generation: a sibling starting with the same bytes, at least as long."""
        if not f.head:
            return None
        d, name = os.path.split(f.path)
        stem = name.split(".", 1)[0]
        try:
            names = os.listdir(d or ".")
        except OSError:
            return None
        tracked = {p for p in self._files} | {r.path for r in self._retired}
        for other in sorted(names):
            p = os.path.join(d, other)
            if other == name or not other.startswith(stem) or other.endswith((".gz", ".bz2", ".xz", ".zip")):
                continue
            if p in tracked:
                continue  # followed on its own: reading it here too would repeat lines
            st = _stat(p)
            if st is None or st.st_size < f.offset:
                continue
            try:
                fd = self._open(p)
            except OSError:
                continue
            try:
                head = self._pread(fd, len(f.head), 0)
            finally:
                os.close(fd)
            if head == f.head:
                return p, st.st_size
        return None

    def _read_range(
        self,
        f: _File,
        start: int,
        end: int,
        raws: list[tuple[_File, list[bytes], list[bool]]],
        budget: list[int],
        *,
        fd: int | None = None,
        unbounded: bool = False,
    ) -> None:
        """Read [start, end) (within the budget unless unbounded), split into lines, keep the partial tail."""
        src = f.fd if fd is None else fd
        want = end - start
        if not unbounded:
            if budget[0] <= 0 or budget[1] <= 0:
                self._more = True
                return
            if want > budget[0]:
                want, self._more = budget[0], True
        data = self._pread(src, want, start)
        if not data:
            return
        if not unbounded and data.count(b"\n") > budget[1]:
            # more lines than this batch may take: stop after the last one allowed, the rest comes next poll
            cut = -1
            for _ in range(budget[1]):
                cut = data.find(b"\n", cut + 1)
            data, self._more = data[: cut + 1], True
        budget[0] -= len(data)
        f.offset = start + len(data)
        f.last_data = self.clock.monotonic()
        if len(f.head) < HEAD_BYTES and start <= len(f.head):
            f.head = (f.head + data[len(f.head) - start:])[:HEAD_BYTES]
        f.fingerprint = (f.fingerprint + data)[-PRINT_BYTES:]
        lines: list[bytes] = []
        flags: list[bool] = []
        cap = self._max_line_bytes
        parts = data.split(b"\n")
        tail = parts.pop()
        if parts and (f.partial or f.overflow):
            # the line held from the last read ends in the first part (and only there: the hold is emptied)
            part = parts[0]
            cut = f.overflow or len(f.partial) + len(part) > cap
            f.partial += part[: max(0, cap - len(f.partial))]
            lines.append(bytes(f.partial))
            flags.append(cut)
            f.partial.clear()
            f.overflow = False
            del parts[0]
        if parts and max(map(len, parts)) <= cap:  # no line over the cap, the usual case: told in C
            lines += parts
            flags += [False] * len(parts)
        else:
            for part in parts:
                lines.append(part[:cap])
                flags.append(len(part) > cap)
        if tail:
            room = cap - len(f.partial)
            if len(tail) > room:
                f.overflow = True
            if room > 0:
                f.partial += tail[:room]
        if lines:
            budget[1] -= len(lines)
            raws.append((f, lines, flags))

    def _flush_partial(self, f: _File, raws: list[tuple[_File, list[bytes], list[bool]]]) -> None:
        """A generation ended without a newline after its last line: hand that line out as it is."""
        if f.partial:
            raws.append((f, [bytes(f.partial)], [f.overflow]))
        f.partial.clear()
        f.overflow = False

    def _pread(self, fd: int, n: int, pos: int) -> bytes:
        if n <= 0:
            return b""
        data = os.pread(fd, n, pos)
        self.stats.bytes_read += len(data)
        return data

    # --- parsing ---------------------------------------------------------------------

    def _parse(self, f: _File, lines: list[bytes], flags: list[bool]) -> list[LogLine]:
        source = os.path.basename(f.path)
        # pm2 writes the app's stderr to *-error*.log: lines that do not say their level are errors there
        default_level = ERROR if "error" in source.lower() else ""
        redact = self.redactor.redact
        out: list[LogLine] = []
        for raw, cut in zip(lines, flags, strict=True):
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            text = raw.decode("utf-8", "replace")
            if not text and not cut:
                continue
            line = parse_line(text, source, redact=redact, default_level=default_level, truncated=cut,
                              max_chars=self._max_chars)
            out.append(line)
        self.stats.lines += len(out)
        self.stats.truncated_lines += sum(1 for ln in out if ln.truncated)
        return out


def _same_start(known: bytes, head: bytes) -> bool:
    """`head` (a file met for the first time) starts with all of `known` (a generation we read).

    At least 32 bytes, so tiny files never match; real log lines carry timestamps early, so two different
    files almost never share their first line.
    """
    return len(known) >= 32 and len(head) >= len(known) and head[: len(known)] == known


def _merge_by_time(lines: list[LogLine]) -> list[LogLine]:
    """Backlog of several files in time order; a line without a time keeps the time of the one before it."""
    keyed: list[tuple[float, int, LogLine]] = []
    last: dict[str, float] = {}
    for i, ln in enumerate(lines):
        t = ln.at if ln.at is not None else last.get(ln.source, float("-inf"))
        last[ln.source] = t
        keyed.append((t, i, ln))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]
