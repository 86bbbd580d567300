"""Ends the app when its terminal is gone (an ssh session dropped, a tmux server killed, a window closed).

On a hung-up terminal Textual's input thread spins on end-of-file (a core at 100 %) and its writer thread dies on
EIO, so the event loop then blocks on the writer's full queue: neither a SIGHUP handled on the loop nor
`App.exit` can end the process. This thread does not depend on that loop.
"""

from __future__ import annotations

import os
import termios
import threading
from collections.abc import Callable, Sequence

HANGUP_EXIT = 129  # 128 + SIGHUP, as a shell reports a job whose terminal hung up
CHECK_EVERY_S = 1.0  # one ioctl a second: nothing measurable while idle
GRACE_S = 3.0  # for the app to exit by itself (sources closed, the demo's world removed)


def terminal_alive(fd: int) -> bool:
    """False once the terminal on `fd` has hung up (the kernel answers EIO) or `fd` is closed."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return False
    return True


class TerminalWatch:
    """A daemon thread checking the app's terminal every `every_s`: once it is gone, `on_gone(HANGUP_EXIT)` asks the
    app to exit, and if the process still runs `grace_s` later, `exit_now(HANGUP_EXIT)` ends it."""

    def __init__(self, fds: Sequence[int], on_gone: Callable[[int], None], *, every_s: float = CHECK_EVERY_S,
                 grace_s: float = GRACE_S, exit_now: Callable[[int], object] = os._exit,
                 alive: Callable[[int], bool] = terminal_alive) -> None:
        self.fds = tuple(fds)
        self.on_gone = on_gone
        self.every_s = every_s
        self.grace_s = grace_s
        self.exit_now = exit_now
        self.alive = alive
        self.gone = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pulse-tui-terminal-watch", daemon=True)

    def start(self) -> None:
        """Start watching (a no-op when there is no terminal to watch)."""
        if self.fds:
            self._thread.start()

    def stop(self) -> None:
        """Stop watching: the app ended by itself."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            if all(self.alive(fd) for fd in self.fds):
                continue
            self.gone.set()
            try:
                self.on_gone(HANGUP_EXIT)
            finally:  # whatever asking did, the process must not outlive its terminal
                if not self._stop.wait(self.grace_s):
                    self.exit_now(HANGUP_EXIT)
            return


def terminal_fds(*fds: int) -> list[int]:
    """Those of `fds` that are terminals now (none when the app runs headless or piped)."""
    return [fd for fd in fds if os.isatty(fd)]
