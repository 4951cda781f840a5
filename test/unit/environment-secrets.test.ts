// Environment secrets on the real SQLite store and key files: set and listed by name only,
// a service's own value over the environment's, a missing one named, every change audited,
// and a key rotation that re-seals environment and webhook secrets (crash-safe, see box.ts).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { SecretBox } from '../../src/secrets/box.ts';
import { EnvironmentSecrets, SecretKeeper } from '../../src/secrets/environment.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { parsedConfig } from '../support/config.ts';

const config = parsedConfig(`
pipeline:
  - stage: test
    run: make test
environments:
  staging: { secrets: [DB_PASSWORD, API_KEY] }
services:
  api: { repo: /repos/api.git }
  web: { repo: /repos/web.git }
`);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setUp(): Promise<{ dir: string; keyFile: string; store: Store; secrets: EnvironmentSecrets; keeper: SecretKeeper }> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-secrets-'));
  const keyFile = join(dir, 'secret.key');
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const keeper = new SecretKeeper(SecretBox.open(keyFile, { env: {} }));
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, keyFile, store, keeper, secrets: new EnvironmentSecrets(config, store, keeper) };
}

describe('environment secrets', () => {
  it('are listed by name and date only, a service’s own value wins, and a missing one is named', async () => {
    const { store, secrets } = await setUp();
    await secrets.set({ environment: 'staging', service: null, name: 'DB_PASSWORD' }, 'shared-db-pass', 'admin');
    const missing = await secrets.valuesFor('api', 'staging');
    assert.ok(!missing.ok);
    assert.match(missing.error.message, /secret API_KEY of environment staging is not set; an admin sets it with: slipway secrets set staging API_KEY/);
    await secrets.set({ environment: 'staging', service: null, name: 'API_KEY' }, 'shared-key', 'admin');
    await secrets.set({ environment: 'staging', service: 'api', name: 'API_KEY' }, 'api-own-key', 'admin');
    assert.deepEqual(await secrets.valuesFor('api', 'staging'), { ok: true, value: { DB_PASSWORD: 'shared-db-pass', API_KEY: 'api-own-key' } });
    assert.deepEqual(await secrets.valuesFor('web', 'staging'), { ok: true, value: { DB_PASSWORD: 'shared-db-pass', API_KEY: 'shared-key' } });
    const listed = await secrets.list('staging');
    assert.deepEqual(listed.map((entry) => [entry.service, entry.name, entry.updatedBy]), [[null, 'API_KEY', 'admin'], [null, 'DB_PASSWORD', 'admin'], ['api', 'API_KEY', 'admin']]);
    assert.ok(!JSON.stringify(listed).includes('shared'), 'no value is listed');
    const stored = JSON.stringify(await store.secrets.list());
    assert.ok(!stored.includes('shared-db-pass') && !stored.includes('api-own-key'), 'the store keeps them sealed');
    const audit = await store.events.list({ types: ['secret.'] });
    assert.deepEqual(audit.map((event) => [event.type, event.actor, event.environment, (event.data as { name: string }).name]), [
      ['secret.set', 'admin', 'staging', 'DB_PASSWORD'],
      ['secret.set', 'admin', 'staging', 'API_KEY'],
      ['secret.set', 'admin', 'staging', 'API_KEY'],
    ]);
    assert.ok(!JSON.stringify(audit).includes('shared'), 'the audit log names secrets, never their values');
  });

  it('refuses bad targets and values with a clear error, and deleting one that is not there', async () => {
    const { secrets } = await setUp();
    await assert.rejects(secrets.set({ environment: 'prod', service: null, name: 'X' }, 'v', 'admin'), /unknown environment prod \(known environments: staging\)/);
    await assert.rejects(secrets.set({ environment: 'staging', service: 'nope', name: 'X' }, 'v', 'admin'), /unknown service nope/);
    await assert.rejects(secrets.set({ environment: 'staging', service: null, name: '1BAD' }, 'v', 'admin'), /is not a variable name/);
    await assert.rejects(secrets.set({ environment: 'staging', service: null, name: 'X' }, '', 'admin'), /is empty/);
    await assert.rejects(secrets.set({ environment: 'staging', service: null, name: 'X' }, 'x'.repeat(65 * 1024), 'admin'), /over 64 KiB/);
    await assert.rejects(secrets.delete({ environment: 'staging', service: null, name: 'X' }, 'admin'), /environment staging has no secret X/);
  });

  it('a key rotation re-seals every environment and webhook secret; a fresh start reads them with the new key only', async () => {
    const { keyFile, store, secrets, keeper } = await setUp();
    await secrets.set({ environment: 'staging', service: null, name: 'DB_PASSWORD' }, 'db-pass-1', 'admin');
    await secrets.set({ environment: 'staging', service: 'api', name: 'API_KEY' }, 'key-1', 'admin');
    await store.webhookSecrets.set('github', 'acme/api', keeper.seal('hook-secret-1'));
    const oldKey = readFileSync(keyFile, 'utf8');
    const { resealed, keyId } = await secrets.rotateKey('admin');
    assert.equal(resealed, 3);
    assert.notEqual(readFileSync(keyFile, 'utf8'), oldKey, 'the key file holds the new key');
    assert.ok(!existsSync(`${keyFile}.next`));
    const fresh = new SecretKeeper(SecretBox.open(keyFile, { env: {} }));
    assert.equal(fresh.box.keyId, keyId);
    const again = new EnvironmentSecrets(config, store, fresh);
    assert.deepEqual(await again.valuesFor('api', 'staging'), { ok: true, value: { DB_PASSWORD: 'db-pass-1', API_KEY: 'key-1' } });
    const sealed = (await store.secrets.list())[0]!.sealed;
    const oldBox = SecretBox.open(join(keyFile, '..', 'old.key'), { env: { SLIPWAY_SECRET_KEY: oldKey.trim() } });
    assert.throws(() => oldBox.unseal(sealed), /sealed under key/, 'the old key opens nothing any more');
    assert.equal(fresh.unseal((await store.webhookSecrets.get('github', 'acme/api'))!), 'hook-secret-1');
    const [rotated] = await store.events.list({ types: ['secret.key_rotated'] });
    assert.deepEqual([rotated!.actor, (rotated!.data as { resealed: number }).resealed], ['admin', 3]);
  });

  it('with SLIPWAY_SECRET_KEY the key cannot be rotated from the API; the previous key in SLIPWAY_SECRET_KEY_PREVIOUS is re-sealed away at start', async () => {
    const { dir, store } = await setUp();
    const first = SecretBox.generateKey();
    const second = SecretBox.generateKey();
    const before = new SecretKeeper(SecretBox.open(join(dir, 'unused.key'), { env: { SLIPWAY_SECRET_KEY: first } }));
    await new EnvironmentSecrets(config, store, before).set({ environment: 'staging', service: null, name: 'DB_PASSWORD' }, 'db-pass', 'admin');
    await assert.rejects(new EnvironmentSecrets(config, store, before).rotateKey('admin'), /put a new key .* in SLIPWAY_SECRET_KEY and the old one in SLIPWAY_SECRET_KEY_PREVIOUS/);
    const after = new SecretKeeper(SecretBox.open(join(dir, 'unused.key'), { env: { SLIPWAY_SECRET_KEY: second, SLIPWAY_SECRET_KEY_PREVIOUS: first } }));
    const secrets = new EnvironmentSecrets(config, store, after);
    assert.equal(await secrets.finishInterruptedRotation(), 1);
    const only = new SecretKeeper(SecretBox.open(join(dir, 'unused.key'), { env: { SLIPWAY_SECRET_KEY: second } }));
    assert.equal(only.unseal((await store.secrets.list())[0]!.sealed), 'db-pass');
    assert.ok(!existsSync(join(dir, 'unused.key')), 'an environment key never touches the key file');
  });
});
