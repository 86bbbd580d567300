"""Masks secrets in log text before it is shown: configured secret values, tokens and API keys,
Pulse's encrypted blobs and Flash auth tokens. Every line passes through here before leaving the follower."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[redacted]"
MIN_SECRET_LEN = 4  # shorter configured values would mask ordinary words

# Each pattern keeps its key visible and masks the value. Each runs only when a cheap substring test says
# it might match: one big alternation costs ~40 µs a line, these cost ~1 µs on ordinary lines.
_BEARER_RE = re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9\-._~+/]{6,}=*", re.IGNORECASE)
# flashAuthToken in JSON ("flashAuthToken":"…"), key=value and JS inspect (flashAuthToken: '…') forms
_FLASH_RE = re.compile(r"(\bflashAuthToken[\"']?\s*[:=]\s*[\"']?)[^\"'\s,;}&]+", re.IGNORECASE)
# header / query / env style API keys, tokens and passwords
_KV_RE = re.compile(
    r"(\b(?:x-api-key|xi-api-key|api[-_]?key|api[-_]?secret|access[-_]?token|auth[-_]?token|"
    r"refresh[-_]?token|client[-_]?secret|password|passwd|[A-Z_]*SECRET[A-Z_]*|[A-Z_]*_KEY)[\"']?\s*[:=]\s*[\"']?)"
    r"(?![\"']?\s*(?:null|undefined|true|false)\b)[^\"'\s,;}&]+",
    re.IGNORECASE,
)
# user:password@ in connection URLs (redis://:pass@host)
_URL_RE = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)", re.IGNORECASE)
# ElevenLabs (sk_…) and OpenAI-style (sk-…) keys
_SK_RE = re.compile(r"\bsk[_-][A-Za-z0-9]{16,}")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# Long base64/hex runs: Pulse's encrypted values are base64(IV16 + tag16 + ciphertext) >= 64 chars, generated
# keys are 64 hex chars. A digit is required so long plain paths (/opt/pulse/dist/modules/…) are left alone.
_RUN_RE = re.compile(r"[A-Za-z0-9+/]{64}")
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/])(?=[A-Za-z+/]*[0-9])[A-Za-z0-9+/]{64,}={0,2}")


def _keep_key(m: re.Match[str]) -> str:
    return m.group(1) + MASK


class Redactor:
    """Replaces secrets in text with MASK; built once with the configured secret values."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secret_values if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return self.redact(text)

    def redact(self, text: str) -> str:
        """The text with every secret masked."""
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        low = text.lower()
        if "bearer" in low or "basic" in low:
            text = _BEARER_RE.sub(_keep_key, text)
        if "flashauthtoken" in low:
            text = _FLASH_RE.sub(_keep_key, text)
        if "api" in low or "token" in low or "passw" in low or "secret" in low or "_key" in low:
            text = _KV_RE.sub(_keep_key, text)
        if "://" in text:
            text = _URL_RE.sub(_keep_key, text)
        if "sk_" in low or "sk-" in low:
            text = _SK_RE.sub(MASK, text)
        if "eyJ" in text:
            text = _JWT_RE.sub(MASK, text)
        if len(text) >= 64 and _RUN_RE.search(text) is not None:
            text = _B64_RE.sub(MASK, text)
        return text
