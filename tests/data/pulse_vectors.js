// Pulse's value crypto, written the way Pulse's CryptoService does it (Node's crypto, no pulse-tui code):
// key = PBKDF2-SHA256(ENCRYPTION_KEY, ENCRYPTION_SALT as text, 100000, 32); value = base64(iv16 | tag16 | ct).
//   node pulse_vectors.js generate > pulse_vectors.json   (known-answer vectors, fixed IVs)
//   node pulse_vectors.js open < request.json              ({"key","salt","values":[...]} -> plaintexts or null)
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const DEFAULT_KEY = 'pulse-default-encryption-key-32-chars-minimum!!';
const DEFAULT_SALTS = ['flash-connect-salt-default-16chr', 'flash-connect-salt'];
const DEFAULT_HASH_SALTS = ['pulse-hash-salt-default-value', 'default-salt'];

// Pulse: `key.length < 32` (UTF-16 units) or unset means the default key; the salt is chosen independently.
function effectiveKey(key) { return key && key.length >= 32 ? key : DEFAULT_KEY; }
function derive(key, salt) { return crypto.pbkdf2Sync(key, salt, 100000, 32, 'sha256'); }
function encrypt(text, key, iv) {
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(text, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
}
function decrypt(value, key) {
  const raw = Buffer.from(value, 'base64');
  const d = crypto.createDecipheriv('aes-256-gcm', key, raw.subarray(0, 16));
  d.setAuthTag(raw.subarray(16, 32));
  return Buffer.concat([d.update(raw.subarray(32)), d.final()]).toString('utf8');
}
function hashId(wid, salt) { return crypto.createHash('sha256').update(wid + salt).digest('hex'); }

const ENVS = {
  OLD: { ENCRYPTION_KEY: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
         ENCRYPTION_SALT: '00112233445566778899aabbccddeeff', HASH_SALT: 'c0ffeec0ffeec0ffeec0ffeec0ffee00' },
  SHORT: { ENCRYPTION_KEY: 'short-key-20-chars-x', ENCRYPTION_SALT: '5a175a175a175a175a175a175a175a17',
           HASH_SALT: '4a5b4a5b4a5b4a5b4a5b4a5b4a5b4a5b' },
  EMOJI: { ENCRYPTION_KEY: '\u{1F600}'.repeat(16), ENCRYPTION_SALT: 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1',
           HASH_SALT: 'e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2' },
  NEW: { ENCRYPTION_KEY: '9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0',
         ENCRYPTION_SALT: 'aabbccddeeff00112233445566778899', HASH_SALT: 'feedfacefeedfacefeedfacefeedface' },
};

function generate() {
  const { OLD, SHORT, EMOJI, NEW } = ENVS;
  // scenario -> [key label, key, salt label, salt, hash-salt label, hash salt]
  const combos = [];
  const oldKeys = [['old key', effectiveKey(OLD.ENCRYPTION_KEY)], ['default key', DEFAULT_KEY]];
  const oldSalts = [['old salt', OLD.ENCRYPTION_SALT], ['default salt', DEFAULT_SALTS[0]],
                    ['older default salt', DEFAULT_SALTS[1]], ['new salt', NEW.ENCRYPTION_SALT]];
  const oldHashes = [['old hash salt', OLD.HASH_SALT], ['default hash salt', DEFAULT_HASH_SALTS[0]],
                     ['older default hash salt', DEFAULT_HASH_SALTS[1]]];
  let i = 0;
  for (const [kl, k] of oldKeys) for (const [sl, s] of oldSalts) {
    const [hl, h] = oldHashes[i % oldHashes.length];
    combos.push(['from-env-and-default', kl, k, sl, s, hl, h]); i++;
  }
  // A short key with a configured salt: Pulse writes with (default key, configured salt, configured HASH_SALT).
  combos.push(['short-key', 'default key', effectiveKey(SHORT.ENCRYPTION_KEY), 'configured salt',
               SHORT.ENCRYPTION_SALT, 'configured hash salt', SHORT.HASH_SALT]);
  combos.push(['short-key', 'default key', DEFAULT_KEY, 'default salt', DEFAULT_SALTS[0], 'default hash salt',
               DEFAULT_HASH_SALTS[0]]);
  // 16 emoji are 32 UTF-16 units: Pulse uses the key as given.
  combos.push(['emoji-key', 'emoji key', effectiveKey(EMOJI.ENCRYPTION_KEY), 'configured salt',
               EMOJI.ENCRYPTION_SALT, 'configured hash salt', EMOJI.HASH_SALT]);
  const vectors = combos.map(([scenario, kl, k, sl, s, hl, h], n) => {
    const phone = `1876555${String(2000 + n)}`;
    const wid = `${phone}@c.us`;
    const sid = crypto.createHash('md5').update(`pulse-vector-${n}`).digest('hex');
    const plaintext = JSON.stringify({ sessionId: sid, whatsappId: wid, phoneNumber: phone, isVerified: true,
      flashUserId: `user-${n}`, createdAt: '2026-11-30T10:00:00.000Z', expiresAt: '2026-12-31T10:00:00.000Z',
      lastActivity: '2026-12-01T09:00:00.000Z', mfaVerified: false, consentGiven: true, profileName: `Vector ${n}` });
    const iv = crypto.createHash('sha256').update(`iv-${n}`).digest().subarray(0, 16);
    return { scenario, name: `${kl} + ${sl}`, key_label: kl, salt_label: sl, hash_salt_label: hl, sessionId: sid,
             whatsappId: wid, plaintext, value: encrypt(plaintext, derive(k, s), iv),
             index_key: `whatsapp:${hashId(wid, h)}`, ttl: 86400 };
  });
  return { generated_by: `tests/data/pulse_vectors.js on node ${process.version}`, envs: ENVS,
           defaults: { key: DEFAULT_KEY, salts: DEFAULT_SALTS, hash_salts: DEFAULT_HASH_SALTS }, vectors };
}

function open(req) {
  const key = derive(effectiveKey(req.key), req.salt || DEFAULT_SALTS[0]);
  return req.values.map((v) => { try { return decrypt(v, key); } catch (e) { return null; } });
}

if (process.argv[2] === 'generate') {
  process.stdout.write(JSON.stringify(generate(), null, 1) + '\n');
} else if (process.argv[2] === 'open') {
  process.stdout.write(JSON.stringify(open(JSON.parse(fs.readFileSync(0, 'utf8')))) + '\n');
} else {
  process.stderr.write('usage: node pulse_vectors.js generate|open\n');
  process.exit(2);
}
