"""The floor of `status --json` over Pulse's Redis: a plain script that reads every session value with
redis-py + hiredis in MGET pipelines of 1,000 and decrypts each with cryptography's AESGCM (one PBKDF2 key).
Not a benchmark itself (`make bench` skips `_*.py`). Usage: _floor_status.py REDIS_URL (key and salt in
ENCRYPTION_KEY / ENCRYPTION_SALT); prints how many values opened."""

from __future__ import annotations

import base64
import json
import os
import sys

import hiredis  # noqa: F401  (redis-py uses it when installed; importing it makes a missing one fail loudly)
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

CHUNK = 1000


def main() -> int:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=os.environ["ENCRYPTION_SALT"].encode(),
                     iterations=100_000)
    aes = AESGCM(kdf.derive(os.environ["ENCRYPTION_KEY"].encode()))
    client = redis.Redis.from_url(sys.argv[1])
    keys = list(client.scan_iter(match="session:*", count=CHUNK))
    opened = 0
    for i in range(0, len(keys), CHUNK):
        pipe = client.pipeline(transaction=False)
        pipe.mget(keys[i : i + CHUNK])
        for value in pipe.execute()[0]:
            if value is None:
                continue
            raw = base64.b64decode(value)
            iv, tag, ciphertext = raw[:16], raw[16:32], raw[32:]
            aes.decrypt(iv, ciphertext + tag, None).decode("utf-8")
            opened += 1
    client.close()
    print(json.dumps({"keys": len(keys), "opened": opened}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
