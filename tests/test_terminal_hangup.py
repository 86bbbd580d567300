"""A terminal that goes away (ssh dropped, tmux killed) ends pulse-tui instead of leaving it spinning a core.

Found by hand: after `tmux kill-server`, `pulse-tui demo` ran on at 93 % of a core for 20 minutes. Textual's input
thread spun on end-of-file and its writer thread had died on EIO, so the loop blocked on the writer's full queue.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from pulse_tui.tui.terminal_watch import HANGUP_EXIT, TerminalWatch, terminal_alive, terminal_fds

ROOT = Path(__file__).resolve().parents[1]


def test_a_hung_up_terminal_is_told_apart_from_a_live_one() -> None:
    master, slave = pty.openpty()
    try:
        assert terminal_alive(slave) and terminal_fds(slave) == [slave]
        os.close(master)
        assert not terminal_alive(slave)  # the kernel answers EIO once the other side is closed
    finally:
        os.close(slave)
    assert not terminal_alive(slave)  # a closed fd
    r, w = os.pipe()
    try:
        assert terminal_fds(r, w) == []  # piped: nothing to watch
    finally:
        os.close(r)
        os.close(w)


def test_the_watch_asks_the_app_to_exit_then_ends_the_process_if_it_cannot() -> None:
    master, slave = pty.openpty()
    asked: list[int] = []
    ended: list[int] = []
    done = threading.Event()

    def exit_now(code: int) -> None:
        ended.append(code)
        done.set()

    watch = TerminalWatch([slave], lambda code: asked.append(code), every_s=0.02, grace_s=0.2,
                          exit_now=exit_now)
    watch.start()
    try:
        time.sleep(0.15)
        assert not watch.gone.is_set() and not asked  # a live terminal: nothing happens
        os.close(master)
        assert done.wait(10.0)
        assert asked == [HANGUP_EXIT] and ended == [HANGUP_EXIT]
    finally:
        watch.stop()
        os.close(slave)


def test_an_app_that_exits_in_its_grace_is_not_ended() -> None:
    master, slave = pty.openpty()
    ended: list[int] = []
    watch = TerminalWatch([slave], lambda code: watch.stop(), every_s=0.02, grace_s=0.5, exit_now=ended.append)
    # on_gone stops the watch at once: the app exited, as it does when its loop still runs
    watch.start()
    os.close(master)
    assert watch.gone.wait(10.0)
    time.sleep(0.8)
    assert ended == []
    os.close(slave)


def _read_until(fd: int, needle: bytes, timeout_s: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_the_demo_ends_when_its_terminal_is_closed(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("PULSE_TUI_LOGS", None)
    # Its own session and no controlling terminal: no SIGHUP comes, as for `nohup pulse-tui` or a tool that
    # holds the pty; only the watch can tell the terminal is gone.
    proc = subprocess.Popen([sys.executable, "-m", "pulse_tui", "demo"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=tmp_path, env=env, start_new_session=True)
    os.close(slave)
    started: list[psutil.Process] = []
    try:
        drawn = _read_until(master, b"Connections", 60.0)
        assert b"Connections" in drawn, drawn[-500:]
        started = psutil.Process(proc.pid).children(recursive=True)  # the demo's world
        os.close(master)
        master = -1
        code = proc.wait(timeout=30)  # before the watch: it spun a core until killed
        assert code in (0, HANGUP_EXIT)
        assert started  # its Redis and stand-in browsers: removed on either way out
        _, alive = psutil.wait_procs(started, timeout=15)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for child in started:
            with contextlib.suppress(psutil.Error):
                child.kill()
