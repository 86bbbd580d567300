"""Recover a QR's raw payload from what a gateway gives: the payload itself or a PNG data URL.

Everything is local: the PNG is decoded with Pillow and read with zxing-cpp. Nothing here ever touches
the network (a QR image URL such as Pulse's `qrImageUrl` is never fetched).
"""

from __future__ import annotations

import base64
import binascii
import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

from pulse_tui.model import QrCode

PNG_DATA_URL_PREFIX = "data:image/png;base64,"
# Salesboy's PNGs are ~300 px a side; anything far bigger is not a gateway QR and could be a decompression bomb.
MAX_DATA_URL_CHARS = 2_000_000
MAX_IMAGE_SIDE = 4096
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


class QrDecodeError(ValueError):
    """The QR could not be turned into a payload. The message never contains the payload or the image."""


def payload_from_qr(qr: QrCode) -> str:
    """The raw linking payload of `qr`: as given, or read out of its PNG data URL."""
    if qr.payload:
        return qr.payload
    if qr.png_data_url:
        return payload_from_png_data_url(qr.png_data_url)
    raise QrDecodeError("the gateway gave neither a QR payload nor a QR image")


def payload_from_png_data_url(data_url: str) -> str:
    """Decode a `data:image/png;base64,…` URL and read the QR code in the image."""
    return payload_from_png(png_bytes_from_data_url(data_url))


def png_bytes_from_data_url(data_url: str) -> bytes:
    """The PNG bytes inside a base64 PNG data URL; QrDecodeError when it is not one."""
    text = data_url.strip()
    if len(text) > MAX_DATA_URL_CHARS:
        raise QrDecodeError(f"QR image data URL too large ({len(text)} chars)")
    if not text[: len(PNG_DATA_URL_PREFIX)].lower() == PNG_DATA_URL_PREFIX:
        raise QrDecodeError("QR image is not a base64 PNG data URL")
    # Data URLs may be wrapped over lines; base64 itself has no whitespace.
    b64 = "".join(text[len(PNG_DATA_URL_PREFIX):].split())
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise QrDecodeError("QR image data URL is not valid base64") from None
    if not data:
        raise QrDecodeError("QR image data URL is empty")
    return data


def payload_from_png(png: bytes) -> str:
    """Read the single QR code in a PNG image."""
    image = _open_image(png)
    try:
        found = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    except Exception:  # noqa: BLE001 - the native reader's errors carry no useful detail for an operator
        raise QrDecodeError("QR image could not be read") from None
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise QrDecodeError("no readable QR code in the image")
    return texts[0]


def _open_image(png: bytes) -> Image.Image:
    """Open and flatten the image to grayscale on white, refusing absurd sizes before decoding pixels."""
    image: Image.Image
    try:
        image = Image.open(io.BytesIO(png))
        if image.format != "PNG":
            raise QrDecodeError(f"QR image is {image.format or 'an unknown format'}, not PNG")
        width, height = image.size
        if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
            raise QrDecodeError(f"QR image too large ({width}x{height})")
        image.load()
    except QrDecodeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise QrDecodeError("QR image is not a readable PNG") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # A transparent background must read as light, as it shows on a white page.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L")


# --- reading a drawn code back (self-checks and tests) ---------------------------------------------------

_HALF_BLOCK_MODULES = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}


def modules_from_text(lines: list[str] | tuple[str, ...], ascii: bool = False) -> list[list[bool]]:
    """The module grid (True = dark) a drawn code shows: half blocks give two rows a line, ASCII two chars a module."""
    rows: list[list[bool]] = []
    for n, line in enumerate(lines):
        if ascii:
            if len(line) % 2:
                raise QrDecodeError(f"ASCII QR line {n} has an odd width")
            pairs = [line[i:i + 2] for i in range(0, len(line), 2)]
            if any(p not in ("##", "  ") for p in pairs):
                raise QrDecodeError(f"ASCII QR line {n} has a character other than '#' or space")
            rows.append([p == "##" for p in pairs])
            continue
        try:
            cells = [_HALF_BLOCK_MODULES[ch] for ch in line]
        except KeyError:
            raise QrDecodeError(f"QR line {n} has a character that is not a half block") from None
        rows.append([top for top, _ in cells])
        rows.append([bottom for _, bottom in cells])
    return rows


def image_from_modules(rows: list[list[bool]], scale: int = 8, margin: int = 0) -> Image.Image:
    """A black-on-white grayscale image of a module grid, `scale` px a module, `margin` extra light modules."""
    width = max((len(r) for r in rows), default=0) + 2 * margin
    height = len(rows) + 2 * margin
    small = Image.new("L", (max(width, 1), max(height, 1)), 255)
    pixels = small.load()
    assert pixels is not None
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                pixels[x + margin, y + margin] = 0
    return small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)


def payload_from_text(lines: list[str] | tuple[str, ...], ascii: bool = False, margin: int = 0) -> str:
    """Decode a code drawn as text, as a phone would read it shown black on white."""
    image = image_from_modules(modules_from_text(lines, ascii), margin=margin)
    found = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    texts = [b.text for b in found if b.valid and b.text]
    if not texts:
        raise QrDecodeError("no readable QR code in the drawn text")
    return texts[0]
