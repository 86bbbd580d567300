"""QR round trips: gateway QR → payload → text drawing → image → real QR decoder → same payload."""

from __future__ import annotations

import base64
import io
import random

import pytest
import segno
import zxingcpp
from PIL import Image

from pulse_tui.model import QrCode
from pulse_tui.qr import (
    QrDecodeError,
    QrEncodeError,
    Rendering,
    TooSmall,
    encode,
    fit,
    payload_from_qr,
    payload_from_text,
    render_ascii,
    render_half_blocks,
)
from pulse_tui.qr.decode import image_from_modules, modules_from_text
from pulse_tui.qr.render import render


def whatsapp_payload(seed: int = 7) -> str:
    """A whatsapp-web.js shaped payload: `2@<ref>,<noise key>,<identity key>,<adv secret>`, 225 chars."""
    rng = random.Random(seed)

    def b64(n: int) -> str:
        return base64.b64encode(rng.randbytes(n)).decode("ascii")

    return f"2@{b64(81)},{b64(32)},{b64(32)},{b64(16)}"


def salesboy_data_url(payload: str) -> str:
    """What Salesboy sends: npm qrcode toDataURL defaults (level M, 4-module border, 4 px/module, black on white)."""
    return segno.make_qr(payload, error="m", boost_error=False).png_data_uri(scale=4, border=4)


def decode_drawn_independently(lines: list[str] | tuple[str, ...], ascii: bool) -> str:
    """Text → pixels without pulse_tui's reader (so a bug shared by drawer and reader cannot hide)."""
    rows: list[list[bool]] = []
    for line in lines:
        if ascii:
            rows.append([line[i:i + 2] == "##" for i in range(0, len(line), 2)])
        else:
            rows.append([ch in "▀█" for ch in line])
            rows.append([ch in "▄█" for ch in line])
    scale = 8
    img = Image.new("L", (len(rows[0]) * scale, len(rows) * scale), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                img.paste(0, (x * scale, y * scale, (x + 1) * scale, (y + 1) * scale))
    found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert found, "zxing-cpp found no QR code in the drawn text"
    return found[0].text


PAYLOAD = whatsapp_payload()


def test_payload_is_realistic() -> None:
    assert len(PAYLOAD) == 225 and PAYLOAD.startswith("2@") and PAYLOAD.count(",") == 3


@pytest.mark.parametrize("quiet", [4, 2])
@pytest.mark.parametrize("ascii", [False, True])
def test_drawn_code_decodes_to_payload(quiet: int, ascii: bool) -> None:
    matrix = encode(PAYLOAD)
    lines = render_ascii(matrix, quiet) if ascii else render_half_blocks(matrix, quiet)
    assert decode_drawn_independently(lines, ascii) == PAYLOAD
    assert payload_from_text(lines, ascii) == PAYLOAD


@pytest.mark.parametrize("ascii", [False, True])
def test_salesboy_png_round_trip(ascii: bool) -> None:
    url = salesboy_data_url(PAYLOAD)
    assert url.startswith("data:image/png;base64,")
    payload = payload_from_qr(QrCode(png_data_url=url))
    assert payload == PAYLOAD
    drawn = fit(payload, 200, 100, ascii=ascii)
    assert isinstance(drawn, Rendering)
    assert decode_drawn_independently(drawn.lines, ascii) == PAYLOAD


def test_raw_payload_is_used_as_is() -> None:
    # Pulse gives the payload itself (never its qrImageUrl): nothing to decode.
    assert payload_from_qr(QrCode(payload="2@abc,def")) == "2@abc,def"
    assert payload_from_qr(QrCode(payload="2@x", png_data_url="data:image/png;base64,!!")) == "2@x"


def test_half_block_glyphs_and_quiet_zone() -> None:
    matrix = encode(PAYLOAD)
    lines = render_half_blocks(matrix, 4)
    assert {len(line) for line in lines} == {61}
    assert set("".join(lines)) <= set(" ▀▄█")
    # 4 light module rows = 2 blank text rows, then the finder's top edge over its hollow row.
    assert lines[0].strip() == "" and lines[1].strip() == ""
    assert lines[2].startswith("    █▀▀▀▀▀█")
    assert all(line[:4] == "    " and line[-4:] == "    " for line in lines)
    # 53 + 8 = 61 module rows: the odd last row is half quiet zone, half padding.
    assert lines[-1].strip() == "" and lines[-2].strip() == ""


def test_ascii_glyphs_and_quiet_zone() -> None:
    lines = render_ascii(encode(PAYLOAD), 2)
    assert len(lines) == 57 and {len(line) for line in lines} == {114}
    assert lines[0].strip() == "" and lines[1].strip() == ""
    assert lines[2].startswith("    ##############  ")
    assert all(line[:4] == "    " for line in lines)


def test_encode_is_smallest_symbol_at_level_l() -> None:
    matrix = encode(PAYLOAD)
    assert matrix.size == 53 and matrix.designator.startswith("9-")
    assert encode(PAYLOAD, "M").designator.startswith("11-")  # what Salesboy's PNG uses: 8 modules more
    assert encode("hi").size == 21  # version 1, never a Micro QR


def test_fit_sizes_for_whatsapp_payload() -> None:
    full = fit(PAYLOAD, 100, 45)
    assert isinstance(full, Rendering)
    assert (full.width, full.height, full.quiet, full.ascii) == (61, 31, 4, False)
    assert len(full.lines) == 31 and full.text.count("\n") == 30
    tight = fit(PAYLOAD, 60, 30)
    assert isinstance(tight, Rendering) and (tight.width, tight.height, tight.quiet) == (57, 29, 2)
    exact = fit(PAYLOAD, 57, 29)
    assert isinstance(exact, Rendering) and exact.quiet == 2
    assert isinstance(fit(PAYLOAD, 56, 29), TooSmall)
    assert isinstance(fit(PAYLOAD, 57, 28), TooSmall)
    wide = fit(PAYLOAD, 200, 70, ascii=True)
    assert isinstance(wide, Rendering) and (wide.width, wide.height, wide.quiet) == (122, 61, 4)
    narrow = fit(PAYLOAD, 114, 57, ascii=True)
    assert isinstance(narrow, Rendering) and (narrow.width, narrow.height, narrow.quiet) == (114, 57, 2)


def test_fit_never_returns_a_code_larger_than_the_area() -> None:
    for width, height in [(57, 29), (58, 30), (60, 31), (61, 30), (61, 31), (70, 40)]:
        drawn = fit(PAYLOAD, width, height)
        assert isinstance(drawn, Rendering)
        assert len(drawn.lines) <= height and max(len(line) for line in drawn.lines) <= width


def test_too_small_says_what_is_needed() -> None:
    small = fit(PAYLOAD, 50, 20)
    assert isinstance(small, TooSmall)
    assert (small.need_width, small.need_height, small.full_width, small.full_height) == (57, 29, 61, 31)
    assert "Terminal too small for the QR: need 57x29, have 50x20" in small.message
    assert "61x31" in small.message
    assert PAYLOAD not in small.message
    # The view reports terminal sizes: code area plus the rows its other widgets take.
    grown = small.grown(0, 4)
    assert "need 57x33, have 50x24" in grown.message and "61x35" in grown.message
    ascii_small = fit(PAYLOAD, 100, 40, ascii=True)
    assert isinstance(ascii_small, TooSmall) and "need 114x57, have 100x40" in ascii_small.message


def test_odd_quiet_zone_row_count_is_padded_light() -> None:
    matrix = encode("hello")
    drawn = render(matrix, 2, ascii=False)
    assert drawn.height == (21 + 4 + 1) // 2 == 13
    rows = modules_from_text(drawn.lines)
    assert not any(rows[-1]) and len(rows) == 26


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.qrserver.com/v1/create-qr-code/?data=2@SECRETPAYLOAD",  # a URL is never fetched
        "data:image/jpeg;base64,/9j/4AAQ",
        "data:image/png;base64,***not base64***",
        "data:image/png;base64,",
        _data_url(b"2@SECRETPAYLOAD,not,a,png"),
        _data_url(_png(Image.new("L", (100, 100), 255))),  # a PNG with no code in it
        _data_url(_png(Image.new("L", (5000, 10), 255))),  # absurd size
    ],
)
def test_bad_data_url_raises_typed_error_without_payload(url: str) -> None:
    with pytest.raises(QrDecodeError) as info:
        payload_from_qr(QrCode(png_data_url=url))
    message = str(info.value)
    assert message and "SECRETPAYLOAD" not in message and "base64," not in message
    assert info.value.__cause__ is None


def test_empty_qr_raises() -> None:
    with pytest.raises(QrDecodeError, match="neither"):
        payload_from_qr(QrCode())


def test_transparent_png_reads_as_light_background() -> None:
    rows = [[bool(v) for v in r] for r in segno.make_qr("2@transparent,key", error="m").matrix]
    gray = image_from_modules(rows, scale=4, margin=4)
    rgba = Image.new("RGBA", gray.size, (0, 0, 0, 0))  # transparent black background
    rgba.paste((0, 0, 0, 255), mask=gray.point(lambda v: 255 - v))
    assert payload_from_qr(QrCode(png_data_url=_data_url(_png(rgba)))) == "2@transparent,key"


def test_wrapped_data_url_is_accepted() -> None:
    url = salesboy_data_url("2@wrapped")
    head, b64 = url.split(",", 1)
    wrapped = head + "," + "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    assert payload_from_qr(QrCode(png_data_url=wrapped)) == "2@wrapped"


def test_too_long_payload_raises_encode_error_without_payload() -> None:
    secret = "S" * 8000
    with pytest.raises(QrEncodeError) as info:
        encode(secret)
    assert secret[:50] not in str(info.value)


def test_text_reader_rejects_foreign_characters() -> None:
    with pytest.raises(QrDecodeError):
        payload_from_text(["  █x  "])
    with pytest.raises(QrDecodeError):
        payload_from_text(["## #"], ascii=True)
