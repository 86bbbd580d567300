"""QR codes in the terminal: recover a gateway's payload, re-encode it small, draw it with text."""

from __future__ import annotations

from pulse_tui.qr.decode import QrDecodeError, payload_from_png_data_url, payload_from_qr, payload_from_text
from pulse_tui.qr.render import (
    QrEncodeError,
    QrMatrix,
    Rendering,
    TooSmall,
    encode,
    fit,
    fit_matrix,
    render_ascii,
    render_half_blocks,
    rendering_size,
)

__all__ = [
    "QrDecodeError",
    "QrEncodeError",
    "QrMatrix",
    "Rendering",
    "TooSmall",
    "encode",
    "fit",
    "fit_matrix",
    "payload_from_png_data_url",
    "payload_from_qr",
    "payload_from_text",
    "render_ascii",
    "render_half_blocks",
    "rendering_size",
]
