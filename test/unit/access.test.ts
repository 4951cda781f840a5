// The access service on a real SQLite store: the first admin, tokens kept as hashes only,
// passwords with scrypt, who may manage whose tokens, one admin always kept, and an event log
// entry naming who made each change.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AccessService, type Principal } from '../../src/auth/access.ts';
import { hashPassword, verifyPassword } from '../../src/auth/passwords.ts';
import { SlipwayError } from '../../src/core/errors.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';

let store: Store;
let access: AccessService;
let admin: Principal;
let adminToken: string;

beforeEach(async () => {
  store = await openSqliteStore(':memory:');
  access = new AccessService(store);
  adminToken = (await access.bootstrap('cli'))!.value;
  admin = await principal(adminToken);
});
afterEach(() => store.close());

async function principal(token: string): Promise<Principal> {
  const result = await access.authenticate(`Bearer ${token}`);
  assert.ok(result.ok, 'the token authenticates');
  return result.principal;
}

function refusedWith(code: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof SlipwayError, String(error));
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  };
}

describe('access service', () => {
  it('makes the first admin and a token once, and keeps only a hash of the token', async () => {
    assert.equal(await access.bootstrap('again'), null, 'users exist already');
    assert.deepEqual([admin.user.name, admin.user.role, admin.token.name], ['admin', 'admin', 'cli']);
    assert.match(adminToken, /^slw_[A-Za-z0-9_-]{43}$/);
    const found = await store.tokens.byHash(createHash('sha256').update(adminToken).digest('hex'));
    assert.equal(found?.token.id, admin.token.id);
    const [created] = (await store.events.list()).filter((event) => event.type === 'user.created');
    assert.deepEqual(created?.data, { user: 'admin', role: 'admin', by: 'first start' });
  });

  it('refuses a missing, malformed, unknown or revoked token with its reason', async () => {
    const reasons = async (header: string | undefined) => {
      const result = await access.authenticate(header);
      return result.ok ? 'accepted' : `${result.reason} ${result.error.status}`;
    };
    assert.equal(await reasons(undefined), 'missing_token 401');
    assert.equal(await reasons('Basic YWRtaW46cGFzcw=='), 'malformed_token 401');
    assert.equal(await reasons(`Bearer ${adminToken} extra`), 'malformed_token 401');
    assert.equal(await reasons('Bearer not-a-token'), 'malformed_token 401');
    assert.equal(await reasons(`Bearer slw_${'A'.repeat(43)}`), 'unknown_token 401');
    assert.equal(await reasons(`bearer   ${adminToken}`), 'accepted', 'the scheme is case-insensitive');
    const issued = await access.createToken(admin, { name: 'short-lived' });
    assert.equal(await reasons(`Bearer ${issued.value}`), 'accepted');
    await access.revokeToken(admin, issued.token.id);
    assert.equal(await reasons(`Bearer ${issued.value}`), 'unknown_token 401', 'a revoked token stops working at once');
  });

  it('records when a token was last used, at most once a minute', async () => {
    let now = new Date('2026-01-01T10:00:00.000Z');
    const clocked = new AccessService(store, { now: () => now });
    const fresh = await access.createToken(admin, { name: 'never used' });
    assert.equal(fresh.token.lastUsedAt, null);
    const used = async () => {
      await clocked.authenticate(`Bearer ${fresh.value}`);
      await new Promise((resolve) => setImmediate(resolve));
      return (await store.tokens.get(fresh.token.id))!.lastUsedAt;
    };
    assert.equal(await used(), '2026-01-01T10:00:00.000Z');
    now = new Date('2026-01-01T10:00:30.000Z');
    assert.equal(await used(), '2026-01-01T10:00:00.000Z');
    now = new Date('2026-01-01T10:01:01.000Z');
    assert.equal(await used(), '2026-01-01T10:01:01.000Z');
  });

  it('hashes passwords with scrypt and logs in with them, one message for every failure', async () => {
    const hash = await hashPassword('correct horse battery');
    assert.match(hash, /^scrypt\$32768\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse battery', hash), true);
    assert.equal(await verifyPassword('correct horse batterz', hash), false);
    assert.equal(await verifyPassword('anything', 'plain-text'), false);

    await access.addUser(admin, { name: 'ada', role: 'developer', password: 'correct horse battery' });
    const stored = await store.users.passwordHash((await store.users.byName('ada'))!.id);
    assert.ok(stored && !stored.includes('correct horse'), 'only the hash is stored');
    const login = await access.login('ada', 'correct horse battery', 'laptop');
    assert.ok(login.ok);
    assert.equal((await principal(login.issued.value)).user.name, 'ada');
    for (const [name, password] of [['ada', 'wrong password!'], ['nobody', 'correct horse battery'], ['admin', 'no password set']]) {
      const refused = await access.login(name!, password!, 'x');
      assert.ok(!refused.ok);
      assert.deepEqual([refused.reason, refused.error.message], ['bad_password', 'wrong user name or password']);
    }
    await assert.rejects(access.addUser(admin, { name: 'bob', role: 'viewer', password: 'short' }), refusedWith('BAD_REQUEST', /at least 12/));
    assert.equal(await store.users.byName('bob'), null, 'nothing was stored');
  });

  it('lets only admins manage users, and everyone their own tokens and password', async () => {
    await access.addUser(admin, { name: 'dev', role: 'developer' });
    const dev = await principal((await access.createToken(admin, { name: 'for dev', user: 'dev' })).value);
    await assert.rejects(access.addUser(dev, { name: 'eve', role: 'admin' }), refusedWith('FORBIDDEN', /only a user with role admin may add users; dev is developer/));
    await assert.rejects(access.updateUser(dev, 'dev', { role: 'admin' }), refusedWith('FORBIDDEN'));
    await assert.rejects(access.updateUser(dev, 'admin', { password: 'a long new password' }), refusedWith('FORBIDDEN'));
    await assert.rejects(access.removeUser(dev, 'admin'), refusedWith('FORBIDDEN'));
    await assert.rejects(access.createToken(dev, { name: 'sneaky', user: 'admin' }), refusedWith('FORBIDDEN'));
    await assert.rejects(access.listTokens(dev, { all: true }), refusedWith('FORBIDDEN'));

    assert.equal((await access.updateUser(dev, 'dev', { password: 'my own password' })).hasPassword, true);
    const own = await access.createToken(dev, { name: 'laptop' });
    assert.deepEqual((await access.listTokens(dev)).map((token) => [token.name, token.user]), [['for dev', 'dev'], ['laptop', 'dev']]);
    await assert.rejects(access.revokeToken(dev, admin.token.id), refusedWith('TOKEN_NOT_FOUND', /of yours/), "another user's token reads as missing");
    await access.revokeToken(dev, own.token.id);
    assert.deepEqual((await access.listTokens(admin, { all: true })).map((token) => token.user).sort(), ['admin', 'dev']);
    assert.deepEqual((await access.listTokens(admin, { user: 'dev' })).map((token) => token.name), ['for dev']);

    await assert.rejects(access.addUser(admin, { name: 'dev', role: 'viewer' }), refusedWith('USER_EXISTS'));
    await assert.rejects(access.addUser(admin, { name: 'Not A Name', role: 'viewer' }), refusedWith('BAD_REQUEST'));
    await assert.rejects(access.updateUser(admin, 'nobody', { role: 'viewer' }), refusedWith('USER_NOT_FOUND'));
  });

  it('always keeps one admin', async () => {
    await assert.rejects(access.updateUser(admin, 'admin', { role: 'viewer' }), refusedWith('LAST_ADMIN'));
    await assert.rejects(access.removeUser(admin, 'admin'), refusedWith('LAST_ADMIN'));
    await access.addUser(admin, { name: 'second', role: 'admin' });
    await access.updateUser(admin, 'admin', { role: 'viewer' });
    await assert.rejects(access.removeUser(await principal(adminToken), 'second'), refusedWith('FORBIDDEN'), 'the demoted admin is a viewer now');
  });

  it('removing a user revokes their tokens', async () => {
    await access.addUser(admin, { name: 'temp', role: 'viewer' });
    const issued = await access.createToken(admin, { name: 'temp token', user: 'temp' });
    await access.removeUser(admin, 'temp');
    assert.equal((await access.authenticate(`Bearer ${issued.value}`)).ok, false);
  });

  it('writes every change to the event log with who made it, and never a token or password', async () => {
    await access.addUser(admin, { name: 'ada', role: 'viewer', password: 'a secret password' });
    await access.updateUser(admin, 'ada', { role: 'deployer' });
    const issued = await access.createToken(admin, { name: 'ci', user: 'ada' });
    await access.revokeToken(admin, issued.token.id);
    await access.removeUser(admin, 'ada');
    const events = (await store.events.list()).filter((event) => event.actor !== null);
    assert.deepEqual(
      events.map((event) => [event.type, event.actor]),
      [
        ['user.created', 'admin'],
        ['user.role_changed', 'admin'],
        ['token.created', 'admin'],
        ['token.revoked', 'admin'],
        ['user.removed', 'admin'],
      ],
    );
    const text = JSON.stringify(await store.events.list());
    assert.ok(!text.includes(issued.value) && !text.includes('a secret password'));
  });
});
