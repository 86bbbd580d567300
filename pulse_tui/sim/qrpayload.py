"""Realistic whatsapp-web.js linking payloads and the PNG data URLs Salesboy makes of them."""

from __future__ import annotations

import base64
import random

import segno

REF_BYTES = 81  # base64 of 81 bytes is 108 chars: with the three keys the payload is 225 chars, like a real one


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode("ascii")


class PayloadMaker:
    """Keys fixed for one client, a new server ref for each code (as WhatsApp issues them)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._keys = f"{_b64(rng, 32)},{_b64(rng, 32)},{_b64(rng, 16)}"

    def next(self) -> str:
        """A new `2@<ref>,<noise key>,<identity key>,<adv secret>` payload (~225 chars)."""
        return f"2@{_b64(self._rng, REF_BYTES)},{self._keys}"


def make_payload(rng: random.Random | None = None) -> str:
    """One payload with fresh keys."""
    return PayloadMaker(rng or random.Random()).next()


def png_data_url(payload: str) -> str:
    """PNG data URL like npm `qrcode` `toDataURL` defaults: level M, 4-module quiet zone, 4 px/module, black on white."""
    qr = segno.make_qr(payload, error="m", boost_error=False)
    return qr.png_data_uri(scale=4, border=4, dark="#000000", light="#ffffff")
