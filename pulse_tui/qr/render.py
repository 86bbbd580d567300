"""Re-encode a QR payload and draw it with text: Unicode half blocks, or an ASCII fallback.

Drawing convention (the one a phone scanner reads everywhere): DARK MODULES ARE DRAWN as glyphs
(`█ ▀ ▄` or `##`) and light modules as spaces, so the text must be shown BLACK ON WHITE. The TUI gives the
widget an explicit white background and black foreground; that is robust on dark and light terminal
themes alike, whereas inverting the glyphs would only work on dark themes. Anything that prints these
lines elsewhere must style them the same way.

Sizes: a whatsapp-web.js payload (~225 chars) is version 9 at level L (53 modules), i.e. 61x31 cells in
half blocks with the 4-module quiet zone and 57x29 with 2. `fit` never returns a clipped code: it returns
`TooSmall` with the exact size needed instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import segno

QUIET_ZONES = (4, 2)  # preferred first; scanners want 4, most still read 2, fewer is not offered
MIN_QUIET = QUIET_ZONES[-1]

# Half-block glyph for (top dark, bottom dark).
_HALF = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
_ASCII_DARK = "##"
_ASCII_LIGHT = "  "


class QrEncodeError(ValueError):
    """The payload cannot be encoded as a QR code (e.g. too long). Never carries the payload."""


@dataclass(frozen=True)
class QrMatrix:
    """The module grid of one QR symbol, without quiet zone. True = dark module."""

    modules: tuple[tuple[bool, ...], ...]
    designator: str  # segno's "<version>-<level>", e.g. "9-L"

    @property
    def size(self) -> int:
        return len(self.modules)


@dataclass(frozen=True)
class Rendering:
    """A QR drawn as text lines, all exactly `width` characters; show black on white."""

    lines: tuple[str, ...]
    width: int
    height: int
    quiet: int
    ascii: bool
    designator: str

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class TooSmall:
    """The area cannot hold even the smallest unclipped rendering. Sizes are columns x rows."""

    need_width: int  # smallest rendering (2-module quiet zone)
    need_height: int
    full_width: int  # preferred rendering (4-module quiet zone)
    full_height: int
    have_width: int
    have_height: int

    @property
    def message(self) -> str:
        """One sentence an operator can act on, e.g. 'Terminal too small for the QR: need 57x29, have 50x20 …'."""
        return (
            f"Terminal too small for the QR: need {self.need_width}x{self.need_height}, "
            f"have {self.have_width}x{self.have_height} "
            f"({self.full_width}x{self.full_height} for a full quiet zone)"
        )

    def grown(self, extra_width: int, extra_height: int) -> TooSmall:
        """The same shortfall in terminal terms: every size plus the space the screen's other widgets take."""
        return TooSmall(
            need_width=self.need_width + extra_width,
            need_height=self.need_height + extra_height,
            full_width=self.full_width + extra_width,
            full_height=self.full_height + extra_height,
            have_width=self.have_width + extra_width,
            have_height=self.have_height + extra_height,
        )


def encode(payload: str, error: str = "L") -> QrMatrix:
    """Encode `payload` as the smallest regular QR symbol at error level `error` (or better, when free)."""
    try:
        # boost_error only raises the level when the version stays the same: more robustness at no size cost.
        # make_qr (not make): never a Micro QR, which phone scanners (WhatsApp's included) do not reliably read.
        qr = segno.make_qr(payload, error=error.lower(), boost_error=True)
    except segno.DataOverflowError:
        raise QrEncodeError(f"QR payload too long to encode ({len(payload)} chars)") from None
    except ValueError:
        raise QrEncodeError("QR payload could not be encoded") from None
    modules = tuple(tuple(bool(v) for v in row) for row in qr.matrix)
    return QrMatrix(modules=modules, designator=qr.designator)


def rendering_size(modules: int, quiet: int, ascii: bool) -> tuple[int, int]:
    """(columns, rows) a symbol of `modules` modules a side takes with a `quiet`-module quiet zone."""
    side = modules + 2 * quiet
    if ascii:
        return 2 * side, side
    return side, (side + 1) // 2


def _padded(matrix: QrMatrix, quiet: int) -> list[list[bool]]:
    """The module grid surrounded by `quiet` light modules on every side."""
    side = matrix.size + 2 * quiet
    blank = [False] * side
    rows = [list(blank) for _ in range(quiet)]
    rows += [[False] * quiet + list(r) + [False] * quiet for r in matrix.modules]
    rows += [list(blank) for _ in range(quiet)]
    return rows


def render_half_blocks(matrix: QrMatrix, quiet: int = 4) -> list[str]:
    """Two module rows per text row with `▀ ▄ █` for dark modules; an odd last row gets a light bottom half."""
    rows = _padded(matrix, quiet)
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    return [
        "".join(_HALF[(top, bottom)] for top, bottom in zip(rows[i], rows[i + 1], strict=True))
        for i in range(0, len(rows), 2)
    ]


def render_ascii(matrix: QrMatrix, quiet: int = 4) -> list[str]:
    """One text row per module row, `##` for a dark module and two spaces for a light one."""
    return ["".join(_ASCII_DARK if dark else _ASCII_LIGHT for dark in row) for row in _padded(matrix, quiet)]


def render(matrix: QrMatrix, quiet: int, ascii: bool) -> Rendering:
    """Draw `matrix` with the given quiet zone and style."""
    lines = render_ascii(matrix, quiet) if ascii else render_half_blocks(matrix, quiet)
    width, height = rendering_size(matrix.size, quiet, ascii)
    return Rendering(tuple(lines), width, height, quiet, ascii, matrix.designator)


def fit_matrix(matrix: QrMatrix, width: int, height: int, ascii: bool = False) -> Rendering | TooSmall:
    """The largest-quiet-zone rendering of `matrix` that fits in width x height cells, else TooSmall."""
    for quiet in QUIET_ZONES:
        need_w, need_h = rendering_size(matrix.size, quiet, ascii)
        if need_w <= width and need_h <= height:
            return render(matrix, quiet, ascii)
    need_w, need_h = rendering_size(matrix.size, MIN_QUIET, ascii)
    full_w, full_h = rendering_size(matrix.size, QUIET_ZONES[0], ascii)
    return TooSmall(need_w, need_h, full_w, full_h, max(0, width), max(0, height))


def fit(payload: str, width: int, height: int, ascii: bool = False) -> Rendering | TooSmall:
    """Encode `payload` at level L and choose the rendering that fits width x height (quiet zone 4, then 2)."""
    return fit_matrix(encode(payload, "L"), width, height, ascii)
