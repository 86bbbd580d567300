"""Discover whatsapp-web.js LocalAuth dirs on disk (Salesboy and Pulse layouts).

Salesboy: `<root>/session-<userId>/` (root is the gateway's `.wwebjs_auth`).
Pulse:    `<root>/<phone>/session-pulse-bot-<phone>/` (root is Pulse's `whatsapp-sessions`).
Only stat/listdir: never reads a file's contents (a Chromium profile holds thousands of files).
"""

from __future__ import annotations

import os
import re
import shutil
import stat as statmod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pulse_tui.findings import finding
from pulse_tui.model import Finding
from pulse_tui.stat_memo import StatMemo

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PHONE_RE = re.compile(r"^[0-9]{6,20}$")
SALESBOY_PREFIX = "session-"
PULSE_PREFIX = "session-pulse-bot-"
# Names a gateway's own root may be under when the operator points us at the app's working dir instead.
ROOT_CHILDREN = (".wwebjs_auth", "whatsapp-sessions")


class Layout(StrEnum):
    SALESBOY = "salesboy"
    PULSE = "pulse"
    THROWAWAY = "throwaway"  # a puppeteer temp profile (WAHA 2024.10.8): tied to its session by the gateway, not a dir


@dataclass(frozen=True)
class AuthDir:
    """One LocalAuth dir. `valid` False: the gateway never restores it (an orphan worth flagging)."""

    session_id: str
    path: Path
    layout: Layout
    valid: bool
    reason: str = ""  # why it is not valid
    mtime: float | None = None
    entries: int | None = None  # top-level entries; 0 means an empty (useless) profile
    size_bytes: int | None = None  # only when asked for (walks the tree)

    @property
    def id(self) -> str:
        return self.session_id


def is_uuid(value: str) -> bool:
    """True for a UUID, the only userId shape Salesboy restores or accepts."""
    return bool(UUID_RE.match(value))


def is_placeholder(value: str) -> bool:
    """Ids the Salesboy dashboard used before login: `current-user`, `test-user*`."""
    return value == "current-user" or value.startswith("test-user")


def salesboy_id_error(user_id: str | None) -> str | None:
    """The 400 error Salesboy answers for this userId, or None when it is accepted."""
    if not user_id:
        return "userId is required"
    if is_placeholder(user_id):
        return "invalid userId"
    if not is_uuid(user_id):
        return "invalid userId format"
    return None


def _salesboy_reason(user_id: str) -> str:
    if is_placeholder(user_id):
        return "placeholder id: never restored by the gateway"
    return "not a UUID: never restored by the gateway"


class EntryCounts:
    """Top-level entry counts of auth dirs, and what discover found in them, reused while a dir is unchanged.

    Polls re-list every auth dir, and opening each one to count its entries cost more than the rest of the
    listing (the rules for "unchanged": pulse_tui/stat_memo.py). Each poller (monitor, gateway adapter) owns one.
    """

    def __init__(self) -> None:
        self._counts: StatMemo[int] = StatMemo()
        self._found: StatMemo[AuthDir] = StatMemo()

    def known(self, path: str, st: os.stat_result) -> AuthDir | None:
        """The AuthDir found at `path` last time, when the dir is still the same."""
        return self._found.get(path, st)

    def keep(self, path: str, st: os.stat_result, found: AuthDir) -> None:
        """Remember what discover found at `path`."""
        self._found.put(path, st, found)

    def count(self, path: str, st: os.stat_result) -> int:
        """Entries directly in `path` (whose stat is `st`); OSError when it cannot be listed."""
        entries = self._counts.get(path, st)
        if entries is None:
            with os.scandir(path) as it:
                entries = sum(1 for _ in it)
            self._counts.put(path, st, entries)
        return entries


def _stat(path: Path, with_size: bool, max_files: int,
          counts: EntryCounts | None) -> tuple[float | None, int | None, int | None]:
    key = str(path)
    try:
        st = os.stat(key)
        if counts is not None:
            entries = counts.count(key, st)
        else:
            with os.scandir(key) as it:
                entries = sum(1 for _ in it)
    except OSError:
        return None, None, None
    return st.st_mtime, entries, (_tree_size(path, max_files) if with_size else None)


def _memo_stat(key: str) -> os.stat_result | None:
    try:
        return os.stat(key)
    except OSError:
        return None


def _tree_size(path: Path, max_files: int) -> int | None:
    """Bytes under `path`, or None when it holds more than `max_files` files (too costly to count)."""
    total, seen = 0, 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            seen += 1
            if seen > max_files:
                return None
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def _list_dirs(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _is_dir(path: Path) -> bool:
    try:
        return statmod.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # Path.is_dir raises PermissionError under an unreadable root
        return False


def _expand_roots(roots: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        root = Path(root)
        out.append(root)
        out.extend(root / child for child in ROOT_CHILDREN if _is_dir(root / child))
    return out


def file_kind(mode: int) -> str:
    """What a non-regular, non-directory file is, in the words of `ls -l`'s first column."""
    if statmod.S_ISFIFO(mode):
        return "a FIFO"
    if statmod.S_ISSOCK(mode):
        return "a socket"
    if statmod.S_ISCHR(mode) or statmod.S_ISBLK(mode):
        return "a device"
    if statmod.S_ISDIR(mode):
        return "a directory"
    return "a file"


def stat_or_problem(path: str | Path) -> os.stat_result | str:
    """The path's stat, or why it cannot be had (missing, a parent dir not reachable, unreadable)."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return "cannot be reached (permission denied on a parent dir)"
    except (OSError, ValueError) as exc:
        return f"cannot be read ({type(exc).__name__})"


def root_problem(root: Path) -> str | None:
    """Why an auth root cannot be listed (missing, a file, a FIFO, unreadable), or None when it can."""
    st = stat_or_problem(root)
    if isinstance(st, str):
        return st
    if not statmod.S_ISDIR(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a directory"
    try:
        with os.scandir(root) as it:
            next(it, None)
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return None


def root_findings(roots: Iterable[Path]) -> list[Finding]:
    """One finding per configured auth root that cannot be listed: its sessions are invisible, not absent."""
    out: list[Finding] = []
    for root in roots:
        problem = root_problem(Path(root))
        if problem is not None:
            out.append(finding(
                "sessions-auth-root-unusable", f"The auth root {root} (PULSE_TUI_AUTH_DIR) {problem}: no session on it can be seen.",
                "Point PULSE_TUI_AUTH_DIR (--auth-dir) at the gateway's .wwebjs_auth (Salesboy) or "
                "whatsapp-sessions (Pulse) dir, and run pulse-tui as a user who can read it.",
                ()))
    return out


def discover(
    roots: Iterable[Path],
    layout: Layout | None = None,
    *,
    with_size: bool = False,
    max_files: int = 5000,
    counts: EntryCounts | None = None,
) -> list[AuthDir]:
    """Every LocalAuth dir under `roots` (both layouts unless `layout` is given), sorted by layout and id.

    With `counts`, a dir's entry count is reused while the dir is unchanged (for pollers).

    A root may also be the gateway's working dir: its `.wwebjs_auth` / `whatsapp-sessions` are searched too.
    Missing or unreadable roots give nothing, never an error.
    """
    found: dict[Path, AuthDir] = {}
    for root in _expand_roots(roots):
        root_str = str(root)
        for name in _list_dirs(root):
            if layout in (None, Layout.SALESBOY) and name.startswith(SALESBOY_PREFIX):
                sid = name[len(SALESBOY_PREFIX):]
                if name.startswith(PULSE_PREFIX) and PHONE_RE.match(name[len(PULSE_PREFIX):]):
                    continue  # a Pulse profile dir placed directly under a root: not a Salesboy user
                key = os.path.join(root_str, name)
                st = _memo_stat(key) if counts is not None and not with_size else None
                hit = counts.known(key, st) if counts is not None and st is not None else None
                if hit is not None:  # unchanged since the last poll: one stat, no Path, no new frozen object
                    found[hit.path] = hit
                    continue
                path = root / name
                ok = is_uuid(sid)
                d = found[path] = AuthDir(sid, path, Layout.SALESBOY, ok, "" if ok else _salesboy_reason(sid),
                                          *_stat(path, with_size, max_files, counts))
                if counts is not None and st is not None and d.mtime is not None:
                    counts.keep(key, st, d)
            elif layout in (None, Layout.PULSE) and PHONE_RE.match(name):
                path = root / name / f"{PULSE_PREFIX}{name}"
                if path.is_dir():
                    found[path] = AuthDir(name, path, Layout.PULSE, True, "", *_stat(path, with_size, max_files, counts))
    return sorted(found.values(), key=lambda d: (d.layout.value, d.session_id, str(d.path)))


def auth_dir_path(root: Path, session_id: str, layout: Layout) -> Path:
    """Where a session's LocalAuth dir lives under `root`."""
    if layout == Layout.PULSE:
        return Path(root) / session_id / f"{PULSE_PREFIX}{session_id}"
    return Path(root) / f"{SALESBOY_PREFIX}{session_id}"


def _safe_component(session_id: str) -> bool:
    return bool(session_id) and session_id not in (".", "..") and "/" not in session_id and "\\" not in session_id \
        and "\0" not in session_id


def delete_auth_dir(roots: Iterable[Path], session_id: str, layout: Layout = Layout.SALESBOY) -> tuple[bool, str]:
    """Remove a session's auth dir, only if it sits directly under one of the configured roots.

    Returns (ok, message). Refuses ids that are not a single path component and symlinked dirs.
    """
    if not _safe_component(session_id):
        return False, "refused: the id is not a plain name"
    hits = [d for d in discover(roots, layout) if d.session_id == session_id]
    if not hits:
        return False, f"no auth dir for {session_id} under the configured auth roots"
    for d in hits:
        if d.path.is_symlink():
            return False, f"refused: {d.path} is a symlink"
        try:
            shutil.rmtree(d.path)
        except OSError as exc:
            return False, f"could not delete {d.path}: {exc.strerror or type(exc).__name__}"
    return True, f"deleted {', '.join(str(d.path) for d in hits)}"
