// The secret box (src/secrets/box.ts): sealing under a file or environment key, a key ring that
// still reads "v1." values and older keys, and key rotation that survives a crash at any step.

import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { PREVIOUS_SECRET_KEY_VARIABLE, SECRET_KEY_VARIABLE, SecretBox } from '../../src/secrets/box.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-secret-box-'));
after(() => rmSync(root, { recursive: true, force: true }));
const keyFileIn = () => join(mkdtempSync(join(root, 'data-')), 'secret.key');
// An empty environment, so a SLIPWAY_SECRET_KEY where the tests run changes nothing.
const NO_ENV = { env: {} };

const idOf = (base64: string) => createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex').slice(0, 16);
const modeOf = (path: string) => statSync(path).mode & 0o777;
const DOES_NOT_HAVE = (id: string) => new RegExp(`sealed under key ${id}, which this server does not have`);
const ALTERED = /altered or not sealed by Slipway/;

/** A value as the box sealed it before key ids: "v1.<iv>.<tag>.<ciphertext>". */
function sealV1(base64Key: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(base64Key, 'base64'), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', ...[iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url'))].join('.');
}

describe('secret box', () => {
  it('seals under a key file it makes on first use, 0600, and unseals', () => {
    const keyFile = keyFileIn();
    const box = SecretBox.open(keyFile, NO_ENV);
    assert.equal(modeOf(keyFile), 0o600);
    assert.equal(box.source, 'file');
    assert.equal(box.keyId, idOf(readFileSync(keyFile, 'utf8')));
    assert.equal(box.describe(), `key file ${keyFile} (id ${box.keyId})`);
    assert.equal(box.interruptedRotation, false);

    const sealed = box.seal('hunter2 ünïcode');
    assert.match(sealed, new RegExp(`^v2\\.${box.keyId}\\.[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));
    assert.ok(!sealed.includes('hunter2'));
    assert.notEqual(box.seal('hunter2 ünïcode'), sealed, 'a fresh iv each time');
    assert.equal(box.unseal(sealed), 'hunter2 ünïcode');
    assert.equal(box.isCurrent(sealed), true);
    assert.equal(SecretBox.open(keyFile, NO_ENV).unseal(sealed), 'hunter2 ünïcode', 'the same key after a restart');
    assert.ok(!inspect(box, { showHidden: true }).includes(readFileSync(keyFile, 'utf8')), 'no key in logs');
  });

  it('still opens "v1." values, under any key of the ring, and marks them for re-sealing', () => {
    const keyFile = keyFileIn();
    const box = SecretBox.open(keyFile, NO_ENV);
    const v1 = sealV1(readFileSync(keyFile, 'utf8'), 'old secret');
    assert.equal(box.unseal(v1), 'old secret');
    assert.equal(box.isCurrent(v1), false);

    const previous = SecretBox.generateKey();
    const ring = SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: SecretBox.generateKey(), [PREVIOUS_SECRET_KEY_VARIABLE]: previous } });
    assert.equal(ring.unseal(sealV1(previous, 'older secret')), 'older secret');
    assert.throws(() => ring.unseal(v1), ALTERED, 'a v1 value no key of the ring opens');
  });

  it('takes the key from SLIPWAY_SECRET_KEY over the file, and then never makes the file', () => {
    const keyFile = keyFileIn();
    const key = SecretBox.generateKey();
    const env = { [SECRET_KEY_VARIABLE]: `${key}\n` };
    const box = SecretBox.open(keyFile, { env });
    assert.equal(existsSync(keyFile), false);
    assert.equal(box.source, 'environment');
    assert.equal(box.keyId, idOf(key));
    assert.equal(box.describe(), `SLIPWAY_SECRET_KEY (id ${idOf(key)})`);
    const sealed = box.seal('from env');
    assert.equal(SecretBox.open(keyFile, { env }).unseal(sealed), 'from env');

    // An existing key file loses to the variable too.
    const fileBox = SecretBox.open(keyFile, NO_ENV);
    assert.throws(() => fileBox.unseal(sealed), DOES_NOT_HAVE(idOf(key)));
    assert.equal(SecretBox.open(keyFile, { env }).keyId, idOf(key));
  });

  it('refuses a malformed SLIPWAY_SECRET_KEY or SLIPWAY_SECRET_KEY_PREVIOUS by name, never echoing it', () => {
    const keyFile = keyFileIn();
    const short = randomBytes(16).toString('base64');
    for (const bad of ['not-a-key-at-all', short, '', `${SecretBox.generateKey().slice(0, -2)}!=`]) {
      assert.throws(
        () => SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: bad } }),
        (error: Error) => error.message.startsWith('SLIPWAY_SECRET_KEY is not a 32-byte key in base64') && (bad === '' || !error.message.includes(bad)),
      );
    }
    assert.throws(
      () => SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: SecretBox.generateKey(), [PREVIOUS_SECRET_KEY_VARIABLE]: short } }),
      /^Error: SLIPWAY_SECRET_KEY_PREVIOUS is not a 32-byte key/,
    );
    assert.equal(existsSync(keyFile), false);
  });

  it('rotates a file key: begin, re-seal, commit; then only the new key is on disk', () => {
    const keyFile = keyFileIn();
    const box = SecretBox.open(keyFile, NO_ENV);
    const stored = [box.seal('one'), sealV1(readFileSync(keyFile, 'utf8'), 'two')];

    const rotated = box.beginRotation();
    assert.equal(modeOf(`${keyFile}.next`), 0o600);
    assert.notEqual(rotated.keyId, box.keyId);
    assert.equal(rotated.describe(), `key file ${keyFile}.next (id ${rotated.keyId})`);
    assert.throws(() => box.seal('late'), /being rotated out: seal with the box beginRotation returned/);
    assert.throws(() => rotated.beginRotation(), /has begun already/);
    assert.throws(() => rotated.finishInterruptedRotation(), /commit the rotation instead/);

    const resealed = stored.map((value) => (rotated.isCurrent(value) ? value : rotated.seal(rotated.unseal(value))));
    assert.ok(resealed.every((value) => rotated.isCurrent(value)));
    rotated.commitRotation();
    assert.equal(existsSync(`${keyFile}.next`), false);
    assert.equal(modeOf(keyFile), 0o600);
    assert.throws(() => rotated.commitRotation(), /only once/);
    assert.throws(() => box.commitRotation(), /for the box beginRotation returned/);

    const fresh = SecretBox.open(keyFile, NO_ENV);
    assert.equal(fresh.keyId, rotated.keyId);
    assert.equal(fresh.interruptedRotation, false);
    assert.deepEqual(resealed.map((value) => fresh.unseal(value)), ['one', 'two']);
    assert.throws(() => fresh.unseal(stored[0]!), DOES_NOT_HAVE(box.keyId));
    assert.throws(() => fresh.unseal(stored[1]!), ALTERED);
  });

  it('reads every value after a crash between beginRotation and commit, and finishes by removing .next', () => {
    const keyFile = keyFileIn();
    const box = SecretBox.open(keyFile, NO_ENV);
    const before = box.seal('before');
    const rotated = box.beginRotation();
    const during = rotated.seal('during');
    // The crash: the process is gone, both key files are left.

    const reopened = SecretBox.open(keyFile, NO_ENV);
    assert.equal(reopened.interruptedRotation, true);
    assert.equal(reopened.keyId, box.keyId, "current is the key file's key");
    assert.equal(reopened.unseal(before), 'before');
    assert.equal(reopened.unseal(during), 'during');
    assert.equal(reopened.isCurrent(during), false);

    // A rotation begun now reuses the key left in .next, so nothing sealed under it is orphaned.
    assert.equal(SecretBox.open(keyFile, NO_ENV).beginRotation().keyId, rotated.keyId);

    const resealed = reopened.seal(reopened.unseal(during));
    reopened.finishInterruptedRotation();
    assert.equal(reopened.interruptedRotation, false);
    assert.equal(existsSync(`${keyFile}.next`), false);
    const afterwards = SecretBox.open(keyFile, NO_ENV);
    assert.equal(afterwards.interruptedRotation, false);
    assert.deepEqual([afterwards.unseal(before), afterwards.unseal(resealed)], ['before', 'during']);
    assert.throws(() => afterwards.unseal(during), DOES_NOT_HAVE(rotated.keyId));
  });

  it('leaves a .next it never read, and refuses to make a fresh key beside one', () => {
    const keyFile = keyFileIn();
    const box = SecretBox.open(keyFile, NO_ENV);
    writeFileSync(`${keyFile}.next`, SecretBox.generateKey(), { mode: 0o600 });
    assert.throws(() => box.finishInterruptedRotation(), /secret\.key\.next holds key [0-9a-f]{16}, which this server did not open; not removing it/);
    assert.equal(existsSync(`${keyFile}.next`), true);

    rmSync(keyFile);
    assert.throws(() => SecretBox.open(keyFile, NO_ENV), /secret\.key is missing but .*secret\.key\.next, left by a key rotation, is there/);
    assert.equal(existsSync(keyFile), false);
  });

  it('refuses to rotate an environment key, saying how', () => {
    const box = SecretBox.open(keyFileIn(), { env: { [SECRET_KEY_VARIABLE]: SecretBox.generateKey() } });
    assert.throws(
      () => box.beginRotation(),
      /comes from SLIPWAY_SECRET_KEY, so Slipway cannot rotate it: put a new key .* in SLIPWAY_SECRET_KEY and the old one in SLIPWAY_SECRET_KEY_PREVIOUS, and restart/,
    );
  });

  it('reads values under SLIPWAY_SECRET_KEY_PREVIOUS and seals under SLIPWAY_SECRET_KEY', () => {
    const keyFile = keyFileIn();
    const [oldKey, newKey] = [SecretBox.generateKey(), SecretBox.generateKey()];
    const sealedOld = SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: oldKey } }).seal('kept');

    const box = SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: newKey, [PREVIOUS_SECRET_KEY_VARIABLE]: oldKey } });
    assert.equal(box.interruptedRotation, true);
    assert.equal(box.unseal(sealedOld), 'kept');
    assert.equal(box.isCurrent(sealedOld), false);
    const resealed = box.seal(box.unseal(sealedOld));
    assert.match(resealed, new RegExp(`^v2\\.${idOf(newKey)}\\.`));
    box.finishInterruptedRotation();
    assert.equal(box.interruptedRotation, false);
    assert.equal(existsSync(keyFile), false);

    const withoutPrevious = SecretBox.open(keyFile, { env: { [SECRET_KEY_VARIABLE]: newKey } });
    assert.equal(withoutPrevious.unseal(resealed), 'kept');
    assert.throws(() => withoutPrevious.unseal(sealedOld), DOES_NOT_HAVE(idOf(oldKey)));
  });

  it('detects tampering and junk, without the value in the error', () => {
    const box = SecretBox.open(keyFileIn(), NO_ENV);
    const sealed = box.seal('do-not-print-me');
    const parts = sealed.split('.');
    const flip = (part: string) => (part[0] === 'A' ? 'B' : 'A') + part.slice(1);
    const tampered = [2, 3, 4].map((index) => parts.map((part, i) => (i === index ? flip(part) : part)).join('.'));
    const junk = ['do-not-print-me', '', 'v2.abc', 'v3.x.y.z', `v2.${box.keyId}.${parts[2]}.${parts[3]!.slice(0, 8)}.${parts[4]}`, `${sealed}.extra`];
    for (const value of [...tampered, ...junk]) {
      assert.throws(() => box.unseal(value), (error: Error) => ALTERED.test(error.message) && !error.message.includes('do-not-print-me'), value);
    }
    assert.ok(junk.every((value) => !box.isCurrent(value)));
    const otherId = box.keyId.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    assert.throws(() => box.unseal(['v2', otherId, ...parts.slice(2)].join('.')), DOES_NOT_HAVE(otherId));
  });

  it('generates 32-byte keys in base64 that SLIPWAY_SECRET_KEY accepts', () => {
    const key = SecretBox.generateKey();
    assert.equal(Buffer.from(key, 'base64').length, 32);
    assert.notEqual(SecretBox.generateKey(), key);
    assert.equal(SecretBox.open(keyFileIn(), { env: { [SECRET_KEY_VARIABLE]: key } }).keyId, idOf(key));
  });
});
