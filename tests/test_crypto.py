"""Pulse crypto against the known-answer vectors in specs/pulse.md and pulse-session-vector.json."""

from __future__ import annotations

import json

import pytest

from pulse_tui.crypto import pulse as pc
from tests.conftest import VECTOR_FILE

VECTOR = json.loads(VECTOR_FILE.read_text())


def test_default_pair_derives_known_key() -> None:
    key = pc.derive_key(pc.DEFAULT_KEY, pc.DEFAULT_SALTS[0])
    assert key.hex() == "387de07af7326f5b6084b303d46660e0d67817875976794287ee4eed246fa1c6"


def test_vector_key_derivation() -> None:
    assert pc.derive_key(VECTOR["ENCRYPTION_KEY"], VECTOR["ENCRYPTION_SALT"]).hex() == VECTOR["derived_key_hex"]


def test_vector_encrypts_to_stored_value() -> None:
    key = bytes.fromhex(VECTOR["derived_key_hex"])
    value = pc.encrypt(VECTOR["plaintext"], key, iv=bytes.fromhex(VECTOR["iv_hex"]))
    assert value == VECTOR["redis_value"]


def test_vector_decrypts() -> None:
    key = bytes.fromhex(VECTOR["derived_key_hex"])
    assert pc.decrypt(VECTOR["redis_value"], key) == VECTOR["plaintext"]


def test_hash_vector() -> None:
    assert (
        pc.hash_whatsapp_id("18765551234@c.us", "pulse-hash-salt-default-value")
        == "5b3e5f7a028f998d97d3a7598a8672c66c94a505c188ff9f53cef9c79505a644"
    )


def test_wrong_key_and_bad_shapes_raise_without_value() -> None:
    wrong = pc.derive_key("x" * 64, "y" * 32)
    with pytest.raises(pc.DecryptError) as info:
        pc.decrypt(VECTOR["redis_value"], wrong)
    assert VECTOR["redis_value"][:20] not in str(info.value)
    with pytest.raises(pc.DecryptError, match="base64"):
        pc.decrypt("not base64 !!", wrong)
    with pytest.raises(pc.DecryptError, match="short"):
        pc.decrypt("AAAA", wrong)


def test_short_key_means_default_key() -> None:
    assert pc.effective_key("twenty-chars-key-xxx") == pc.DEFAULT_KEY
    assert pc.effective_key(None) == pc.DEFAULT_KEY
    assert pc.effective_key("k" * 32) == "k" * 32


def test_keyring_labels_which_pair_opened() -> None:
    ring = pc.KeyRing.for_pulse(VECTOR["ENCRYPTION_KEY"], VECTOR["ENCRYPTION_SALT"])
    plain, pair = ring.open(VECTOR["redis_value"])
    assert pair.label == "configured" and plain == VECTOR["plaintext"]
    default_value = pc.encrypt("{}", pc.derive_key(pc.DEFAULT_KEY, pc.DEFAULT_SALTS[1]))
    _, pair = ring.open(default_value)
    assert pair.label == "default"
    assert "pulse-default" not in repr(pair)
    stranger = pc.encrypt("{}", pc.derive_key("z" * 40, "q" * 16))
    with pytest.raises(pc.DecryptError, match="no known key"):
        ring.open(stranger)


def test_keyring_derives_lazily_and_once() -> None:
    ring = pc.KeyRing.for_pulse(VECTOR["ENCRYPTION_KEY"], VECTOR["ENCRYPTION_SALT"])
    ring.open(VECTOR["redis_value"])
    ring.open(VECTOR["redis_value"])
    assert ring.derived == 1
    # A value written with the default key and its older salt: only the pairs up to that one are derived.
    ring.open(pc.encrypt("{}", pc.derive_key(pc.DEFAULT_KEY, pc.DEFAULT_SALTS[1])))
    wanted = next(i for i, p in enumerate(ring.pairs) if (p.password, p.salt) == (pc.DEFAULT_KEY, pc.DEFAULT_SALTS[1]))
    assert 1 < ring.derived == wanted + 1 < len(ring.pairs)


def test_key_length_counts_utf16_units_as_javascript_does() -> None:
    assert pc.js_length("abc") == 3 and pc.js_length("\u00e9") == 1 and pc.js_length("\U0001f600") == 2
    emoji = "\U0001f600" * 16  # 16 code points, 32 UTF-16 units: Pulse uses it
    assert pc.effective_key(emoji) == emoji
    assert pc.effective_key("\U0001f600" * 15 + "x") == pc.DEFAULT_KEY  # 31 units
    assert pc.effective_key("x" * 31) == pc.DEFAULT_KEY and pc.effective_key("x" * 32) == "x" * 32
