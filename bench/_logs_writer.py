"""The log writer of bench/logs.py, run as a process of its own: a gateway under pm2 writes its log files from
its own process, so the bench's writer must not share the measured process's GIL. Not a benchmark itself.

Run by bench/logs.py as `python bench/_logs_writer.py PATH`: builds its payload, prints "ready", waits for a
line on stdin, then appends every chunk to PATH as fast as it can and prints the `time.monotonic()` of its first
write (CLOCK_MONOTONIC: the same clock in every process of the host). Imports nothing of pulse_tui or Textual.
"""

from __future__ import annotations

import json
import os
import sys
import time

LINES = 100_000
PER_WRITE = 100
SID = "6f1c2a4e-1b2c-4d3e-8f90-123456789abc"


def make_line(i: int) -> str:
    """Line i of the bench's log: winston JSON and pm2-prefixed lines, some errors and some secrets to mask."""
    ts = f"2026-11-25T08:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    k = i % 20
    if k == 0:
        return f"2026-11-25 08:00:{i % 60:02d} +00:00: Error: connect ECONNREFUSED 127.0.0.1:6379 (attempt {i})"
    if k == 1:
        return json.dumps({"level": "warn", "message": f"User {SID} disconnected: NAVIGATION", "timestamp": ts})
    if k == 2:
        return f"2026-11-25 08:00:{i % 60:02d} +00:00: calling ElevenLabs with xi-api-key: sk_{i:048d}"
    return json.dumps({"level": "info", "message": f"Message {i} received from 18765551234@c.us in chat "
                                                   f"120363{i:06d}@g.us: hello there", "timestamp": ts})


def chunks() -> list[bytes]:
    """The writer's payload, PER_WRITE lines a write, made before the clock starts."""
    return ["".join(make_line(i) + "\n" for i in range(s, s + PER_WRITE)).encode() for s in range(0, LINES, PER_WRITE)]


def write_all(path: str, payload: list[bytes]) -> float:
    """Append every chunk to path, one write() each; the monotonic time of the first write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        started = time.monotonic()
        for chunk in payload:
            os.write(fd, chunk)
    finally:
        os.close(fd)
    return started


def main() -> None:
    payload = chunks()
    print("ready", flush=True)
    sys.stdin.readline()
    started = write_all(sys.argv[1], payload)
    print(repr(started), flush=True)


if __name__ == "__main__":
    main()
