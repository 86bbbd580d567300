"""Pulse's value encryption (AES-256-GCM, PBKDF2 key) and WhatsApp-id hashing, byte-compatible with Pulse.

Stored format: base64(IV 16 bytes ‖ GCM tag 16 bytes ‖ ciphertext); key = PBKDF2-HMAC-SHA256(ENCRYPTION_KEY,
ENCRYPTION_SALT as text, 100000 iterations, 32 bytes). Derivation costs ~0.1 s, so a KeyRing derives each
(key, salt) pair once and only when a value needs it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PBKDF2_ITERATIONS = 100_000
IV_LEN = 16
TAG_LEN = 16
MIN_KEY_LEN = 32  # Pulse silently falls back to its default key below this

DEFAULT_KEY = "pulse-default-encryption-key-32-chars-minimum!!"
DEFAULT_SALTS = ("flash-connect-salt-default-16chr", "flash-connect-salt")
DEFAULT_HASH_SALTS = ("pulse-hash-salt-default-value", "default-salt")
PLACEHOLDER_KEYS = ("your_encryption_key_here_min_32_chars_required", "<your-generated-key>")
PLACEHOLDER_SALTS = ("your_encryption_salt_here_min_16_chars", "<your-generated-salt>")
PLACEHOLDER_HASH_SALTS = ("your_hash_salt_here_min_16_chars", "<your-generated-hash-salt>")


class DecryptError(Exception):
    """A value that is not Pulse's format or does not open with this key. Never carries the value."""


@functools.cache
def _aead() -> tuple[type[AESGCM], type[Exception]]:
    """cryptography's AES-GCM and its InvalidTag, imported on first use (once: an import in a function costs
    ~2 µs a call). cryptography is ~7 MiB resident, most of it its Rust module, and the doctor's and the TUI's
    key checks import this module on hosts that have no Pulse Redis to open values from."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM, InvalidTag


def derive_key(password: str, salt: str) -> bytes:
    """PBKDF2-HMAC-SHA256 as Pulse does it: both inputs are UTF-8 text (the hex salt is not decoded)."""
    # Imported on first use (see _aead); cryptography's PBKDF2 is 2.4x faster than hashlib's on this Python.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), iterations=PBKDF2_ITERATIONS)
    return kdf.derive(password.encode())


def split_value(value: str | bytes) -> tuple[bytes, bytes, bytes]:
    """Split a stored value into (iv, tag, ciphertext); DecryptError when it is not base64 or too short."""
    try:
        # b64decode(validate=True) is this call after copying a str to bytes: 10,000 values a poll skip the copy.
        raw = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("not base64") from exc
    if len(raw) <= IV_LEN + TAG_LEN:
        raise DecryptError("too short for IV and tag")
    return raw[:IV_LEN], raw[IV_LEN : IV_LEN + TAG_LEN], raw[IV_LEN + TAG_LEN :]


def decrypt(value: str | bytes, key: bytes) -> str:
    """Open one stored value with a derived key; DecryptError when it does not authenticate."""
    aesgcm, invalid_tag = _aead()
    iv, tag, ciphertext = split_value(value)
    try:
        plain = aesgcm(key).decrypt(iv, ciphertext + tag, None)
    except invalid_tag as exc:
        raise DecryptError("does not authenticate with this key") from exc
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecryptError("plaintext is not UTF-8") from exc


def encrypt(plaintext: str, key: bytes, iv: bytes | None = None) -> str:
    """Encrypt text to Pulse's stored format. `iv` is only fixed by known-answer tests."""
    iv = iv if iv is not None else os.urandom(IV_LEN)
    if len(iv) != IV_LEN:
        raise ValueError("IV must be 16 bytes")
    sealed = _aead()[0](key).encrypt(iv, plaintext.encode("utf-8"), None)
    ciphertext, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
    return base64.b64encode(iv + tag + ciphertext).decode("ascii")


def hash_whatsapp_id(whatsapp_id: str, hash_salt: str) -> str:
    """sha256(whatsappId + HASH_SALT) as hex: the suffix of Pulse's `whatsapp:` index keys."""
    return hashlib.sha256((whatsapp_id + hash_salt).encode("utf-8")).hexdigest()


def js_length(text: str) -> int:
    """JavaScript's `string.length`: UTF-16 code units (an emoji counts 2), as Pulse's `key.length < 32` counts."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def key_too_short(key: str) -> bool:
    """Pulse's rule: a key under 32 UTF-16 units is ignored (default key) or refused (production)."""
    return js_length(key) < MIN_KEY_LEN


def effective_key(configured: str | None) -> str:
    """The key Pulse really uses: unset or shorter than 32 UTF-16 units means its default key."""
    if configured and not key_too_short(configured):
        return configured
    return DEFAULT_KEY


def effective_salt(configured: str | None) -> str:
    return configured if configured else DEFAULT_SALTS[0]


def effective_hash_salt(configured: str | None) -> str:
    return configured if configured else DEFAULT_HASH_SALTS[0]


@dataclass(frozen=True)
class KeyPair:
    """One (ENCRYPTION_KEY, ENCRYPTION_SALT) candidate with a display label that never holds the secret."""

    label: str  # "configured", "default", "placeholder", or e.g. "default key + configured salt"
    password: str = field(repr=False)
    salt: str = field(repr=False)

    @property
    def is_configured(self) -> bool:
        return self.label == "configured"


def _key_kind(password: str, configured: str) -> str:
    if password == configured:
        return "configured"
    if password == DEFAULT_KEY:
        return "default"
    return "placeholder"


class KeyRing:
    """Candidate key pairs, tried in order; each derived at most once, lazily."""

    def __init__(self, pairs: list[KeyPair]) -> None:
        self.pairs = pairs
        self._derived: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_pulse(
        cls, encryption_key: str | None, encryption_salt: str | None, *, include_known: bool = True
    ) -> KeyRing:
        """The effective configured pair first, then every known default/placeholder combination."""
        key = effective_key(encryption_key)
        salt = effective_salt(encryption_salt)
        first_label = "configured" if key == encryption_key else "default"
        pairs = [KeyPair(first_label, key, salt)]
        if include_known:
            passwords = [key, DEFAULT_KEY, *PLACEHOLDER_KEYS]
            salts = [salt, *DEFAULT_SALTS, *PLACEHOLDER_SALTS]
            seen = {(key, salt)}
            for p in passwords:
                for s in salts:
                    if (p, s) in seen:
                        continue
                    seen.add((p, s))
                    pk = _key_kind(p, key)
                    sk = "configured" if s == salt else ("default" if s in DEFAULT_SALTS else "placeholder")
                    label = pk if pk == sk else f"{pk} key + {sk} salt"
                    pairs.append(KeyPair(label, p, s))
        return cls(pairs)

    def key_for(self, pair: KeyPair) -> bytes:
        cache_key = (pair.password, pair.salt)
        key = self._derived.get(cache_key)
        if key is None:
            with self._lock:  # a prewarm thread may be deriving it right now: wait for it, never derive twice
                key = self._derived.get(cache_key)
                if key is None:
                    key = self._derived[cache_key] = derive_key(pair.password, pair.salt)
        return key

    @property
    def derived(self) -> int:
        """How many pairs have been derived so far (each costs one PBKDF2 run)."""
        return len(self._derived)

    def candidates(self) -> Iterator[tuple[KeyPair, bytes]]:
        """Each pair with its key, in order, deriving a pair only when the caller asks past the previous one:
        a value that opens with the configured pair costs one derivation, never twenty."""
        for pair in self.pairs:
            yield pair, self.key_for(pair)

    def open(self, value: str | bytes) -> tuple[str, KeyPair]:
        """Decrypt with the first pair that authenticates; DecryptError('no known key') when none does."""
        split_value(value)  # fail fast on shape before deriving anything
        for pair, key in self.candidates():
            try:
                return decrypt(value, key), pair
            except DecryptError:
                continue
        raise DecryptError("no known key opens it")
