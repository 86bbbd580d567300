"""pulse-tui with its painting counted: run by bench/_paint.py in tmux, never by hand.

Runs `pulse_tui.cli.main` with Textual's paint path wrapped (no production code changed): per widget, the
rows whose content was rendered again (a cache miss in Textual's StylesCache); per caller, the `refresh()`
calls and whether they asked for a layout; the frames, layouts and their CPU time. Counting starts after
$PULSE_PAINT_START seconds and the counts are written as JSON to $PULSE_PAINT_OUT after $PULSE_PAINT_SPAN more.
$PULSE_PROBE_OFF switches parts off as bench/_probe.py does (`tick`, `logs`, `procs`, `pm2`).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

OUT = os.environ.get("PULSE_PAINT_OUT", os.devnull)
START = float(os.environ.get("PULSE_PAINT_START", "15"))
SPAN = float(os.environ.get("PULSE_PAINT_SPAN", "40"))
PROFILE = os.environ.get("PULSE_PAINT_PROFILE", "")  # a pstats file: cProfile of the main thread meanwhile
_on = False
lines: Counter[str] = Counter()  # widget → content rows rendered again
renders: Counter[str] = Counter()  # widget → render_lines calls (cached or not)
render_cpu: dict[str, float] = {}  # widget → CPU s in Textual's StylesCache.render for it
crops: Counter[str] = Counter()  # a partial frame's crop (the box around every dirty region) → frames
refreshes: Counter[str] = Counter()  # "widget layout? ← caller" → calls
messages: Counter[str] = Counter()  # "message type -> receiver" → messages dispatched
gc_time: dict[str, list[float]] = {}  # "gc gen N" → [collections, CPU s] (any thread)
_gc_started: list[float] = []
timing: dict[str, list[float]] = {}
loop: list[asyncio.AbstractEventLoop] = []  # the app's loop, once it runs  # name → [calls, CPU s]
pending: set[str] = set()  # "widget <- caller" of the refreshes since the last frame
frames: dict[str, list[float]] = {}  # the causes of a frame (sorted, joined) → [frames, CPU s]
frame_parts: dict[str, dict[str, list[float]]] = {}  # causes → widget → [rows rendered again, CPU s]
in_frame: list[dict[str, list[float]]] = []  # the frame under way: widget → [rows rendered again, CPU s]
cells: Counter[str] = Counter()
regions: dict[str, str] = {}  # causes → the dirty regions of the first such frame  # "column: old -> new" of the table cells set (SyncedTable._set_cell)


def _name(widget: Any) -> str:
    wid = getattr(widget, "id", None)
    return f"{type(widget).__name__}#{wid}" if wid else type(widget).__name__


def _caller() -> str:
    """The first frame outside Textual and this file: who asked for the refresh."""
    f = sys._getframe(2)
    for _ in range(12):
        if f is None:
            break
        path = f.f_code.co_filename
        if "site-packages" not in path and "_paint_probe" not in path:
            return f"{Path(path).name}:{f.f_code.co_name}"
        f = f.f_back
    g = sys._getframe(2)
    return f"textual {Path(g.f_code.co_filename).name}:{g.f_code.co_name}"


def _timed(owner: Any, attr: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _on:
            return original(*args, **kwargs)
        s = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            slot = timing.setdefault(label, [0, 0.0])
            slot[0] += 1
            slot[1] += time.thread_time() - s

    if getattr(original, "__code__", None) is not None and original.__code__.co_flags & 0x80:  # a coroutine
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            if not _on:
                return await original(*args, **kwargs)
            slot = timing.setdefault(label, [0, 0.0])
            slot[0] += 1
            return await original(*args, **kwargs)

        setattr(owner, attr, awrapper)
    else:
        setattr(owner, attr, wrapper)


def patch() -> None:
    from textual import _styles_cache, screen, widget
    from textual._compositor import Compositor

    render = _styles_cache.StylesCache.render

    def counted_render(self: Any, styles: Any, size: Any, base_background: Any, background: Any,
                       render_content_line: Any, *args: Any, **kwargs: Any) -> Any:
        if _on:
            owner = _name(getattr(render_content_line, "__self__", None))
            renders[owner] += 1

            part = in_frame[0].setdefault(owner, [0, 0.0]) if in_frame else [0, 0.0]

            def content_line(y: int) -> Any:
                lines[owner] += 1
                part[0] += 1
                return render_content_line(y)

            t = time.thread_time()
            try:
                return render(self, styles, size, base_background, background, content_line, *args, **kwargs)
            finally:
                render_cpu[owner] = render_cpu.get(owner, 0.0) + time.thread_time() - t
                part[1] += time.thread_time() - t
        return render(self, styles, size, base_background, background, render_content_line, *args, **kwargs)

    _styles_cache.StylesCache.render = counted_render  # type: ignore[method-assign]

    refresh = widget.Widget.refresh

    def counted_refresh(self: Any, *regions: Any, repaint: bool = True, layout: bool = False,
                        recompose: bool = False) -> Any:
        if _on:
            kind = "LAYOUT" if layout else ("region" if regions else "whole")
            caller = _caller()
            refreshes[f"{_name(self)} {kind} <- {caller}"] += 1
            pending.add(f"{_name(self)}{'(L)' if layout else ''}<-{caller.split(':')[-1]}")
        return refresh(self, *regions, repaint=repaint, layout=layout, recompose=recompose)

    widget.Widget.refresh = counted_refresh  # type: ignore[method-assign]
    from textual.message_pump import MessagePump

    dispatch = MessagePump._dispatch_message

    async def counted_dispatch(self: Any, message: Any) -> Any:
        if _on:
            messages[f"{type(message).__qualname__} -> {_name(self)}"] += 1
        return await dispatch(self, message)

    MessagePump._dispatch_message = counted_dispatch  # type: ignore[method-assign]
    import gc

    def gc_timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _gc_started[:] = [time.thread_time()]
        elif _on and _gc_started:
            slot = gc_time.setdefault(f"gc gen {info['generation']}", [0, 0.0])
            slot[0] += 1
            slot[1] += time.thread_time() - _gc_started[0]

    gc.callbacks.append(gc_timed)
    partial = Compositor.render_partial_update

    def counted_partial(self: Any) -> Any:
        if _on and self._dirty_regions:
            from textual.geometry import Region

            crop = Region.from_union(list(self._dirty_regions))
            crops[f"y {crop.y}-{crop.bottom} x {crop.x}-{crop.right}"] += 1
            if in_frame:  # the frame's dirty regions, as (x, y, width, height): what asked for each, by eye
                in_frame[0]["regions"] = [0, 0.0, sorted(tuple(r) for r in self._dirty_regions)]  # type: ignore[list-item]
        return partial(self)

    Compositor.render_partial_update = counted_partial  # type: ignore[method-assign]
    _timed(screen.Screen, "_on_timer_update", "Screen._on_timer_update (a frame)")
    timer_update = screen.Screen._on_timer_update

    def frame(self: Any) -> Any:
        if not _on:
            return timer_update(self)
        causes = " + ".join(sorted(pending)) or "(none)"
        pending.clear()
        in_frame[:] = [{}]
        t = time.thread_time()
        try:
            return timer_update(self)
        finally:
            parts = frame_parts.setdefault(causes, {})
            done = in_frame.pop()
            if "regions" in done:
                regions.setdefault(causes, str(done.pop("regions")[2]))
            for w, (n, cpu) in done.items():
                slot = parts.setdefault(w, [0, 0.0])
                slot[0] += n
                slot[1] += cpu
            slot = frames.setdefault(causes, [0, 0.0])
            slot[0] += 1
            slot[1] += time.thread_time() - t

    screen.Screen._on_timer_update = frame  # type: ignore[method-assign]
    from pulse_tui.tui import synced_table

    set_cell = synced_table.SyncedTable._set_cell

    def counted_set_cell(self: Any, row_key: Any, column_key: Any, value: Any, window: Any) -> Any:
        if _on:
            try:
                old = self.get_cell(row_key, column_key)
            except Exception:  # noqa: BLE001
                old = "?"
            cells[f"{self.id}.{column_key.value if hasattr(column_key, 'value') else column_key}: "
                  f"{str(old)[:20]!r} -> {str(value)[:20]!r}"] += 1
        return set_cell(self, row_key, column_key, value, window)

    synced_table.SyncedTable._set_cell = counted_set_cell  # type: ignore[method-assign]
    _timed(screen.Screen, "_refresh_layout", "Screen._refresh_layout")
    _timed(Compositor, "render_update", "Compositor.render_update")

    import pulse_tui.tui.app as app_mod
    import pulse_tui.tui.log_pane as log_pane
    import pulse_tui.tui.main_screen as main_screen

    _timed(app_mod.PulseApp, "apply", "PulseApp.apply")
    _timed(log_pane.LogPane, "add_lines", "LogPane.add_lines")
    if hasattr(log_pane.LogPane, "feed"):  # a base without feed() (bench/_paint.py --base) paints in add_lines
        _timed(log_pane.LogPane, "feed", "LogPane.feed")
        _timed(log_pane.LogPane, "flush", "LogPane.flush")
    _timed(main_screen.MainScreen, "tick", "MainScreen.tick")
    _timed(main_screen.MainScreen, "show", "MainScreen.show")
    start = app_mod.PulseApp.start

    def started(self: Any) -> None:
        loop.append(asyncio.get_running_loop())
        start(self)

    app_mod.PulseApp.start = started  # type: ignore[method-assign]


def schedule() -> None:
    def begin() -> None:
        global _on
        lines.clear()
        renders.clear()
        render_cpu.clear()
        crops.clear()
        refreshes.clear()
        messages.clear()
        gc_time.clear()
        timing.clear()
        pending.clear()
        frames.clear()
        frame_parts.clear()
        regions.clear()
        cells.clear()
        if PROFILE and loop:
            loop[0].call_soon_threadsafe(profiler.enable)  # cProfile sees the thread that enables it
        state["cpu"] = time.process_time()
        state["wall"] = time.monotonic()
        _on = True

    def dump() -> None:
        global _on
        _on = False
        if PROFILE and loop:
            done = threading.Event()

            def stop() -> None:
                profiler.disable()
                profiler.dump_stats(PROFILE)
                done.set()

            loop[0].call_soon_threadsafe(stop)
            done.wait(10)
        wall = time.monotonic() - state["wall"]
        cpu = time.process_time() - state["cpu"]
        for _ in range(5):
            try:
                out = {"module": sys.modules["pulse_tui"].__file__, "wall": wall, "cpu": cpu, "lines": dict(lines), "renders": dict(renders),
                       "render_cpu": dict(render_cpu), "crops": dict(crops),
                       "refreshes": dict(refreshes), "messages": dict(messages), "timing": {k: list(v) for k, v in {**timing, **gc_time}.items()},
                       "frames": {k: list(v) for k, v in frames.items()}, "cells": dict(cells),
                       "frame_parts": frame_parts, "regions": regions}
                break
            except RuntimeError:  # a dict changed size while copied: the main thread was counting
                time.sleep(0.01)
        with open(OUT, "w") as fh:
            json.dump(out, fh)

    state: dict[str, float] = {}
    profiler = cProfile.Profile()
    for delay, fn in ((START, begin), (START + SPAN, dump)):
        t = threading.Timer(delay, fn)
        t.daemon = True
        t.start()


def main() -> int:
    from _probe import switch_off

    import pulse_tui.cli as cli

    patch()
    switch_off(os.environ.get("PULSE_PROBE_OFF", ""))
    schedule()
    return int(cli.main(sys.argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
