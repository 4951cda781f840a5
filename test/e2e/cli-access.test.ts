// Users and tokens as a person meets them: the first `slipway up` signs the CLI on the same
// machine in, so `slipway status` just works; another machine signs in with `slipway login`;
// users, roles and tokens are managed with `slipway user` and `slipway token`.

import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONFIG_HOME, slipway } from '../support/cli.ts';
import { startLocalServer, type LocalServer } from '../support/server.ts';

let server: LocalServer;
/** A second machine: a config folder the first start wrote nothing to. */
const elsewhere = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'slipway-elsewhere-')) };

before(async () => {
  server = await startLocalServer();
});
after(() => server.close());

async function ok(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  const result = await slipway(args, { server: server.url, ...options });
  assert.equal(result.code, 0, `slipway ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

describe('slipway CLI: signing in, users and tokens', () => {
  it('works on the machine of the first start without signing in, as its admin', async () => {
    assert.match(await ok(['status']), /api/);
    assert.match(await ok(['whoami']), /^admin \(admin\) at http:\/\/127\.0\.0\.1:\d+ with token #1 "slipway up on .+" from .*credentials\.json/);
    const mode = statSync(join(CONFIG_HOME, 'slipway', 'credentials.json')).mode & 0o777;
    assert.equal(mode, 0o600, 'the credentials file is readable by its owner only');
    assert.match(server.process.output(), /Created the first user, admin \(admin\); the CLI on this machine is signed in/);
  });

  it('tells a person without a token how to sign in', async () => {
    const result = await slipway(['status'], { server: server.url, env: elsewhere });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /this needs an API token/);
    assert.match(result.stderr, new RegExp(`sign in: slipway login --server ${server.url.replace(/[.]/g, '\\.')}`));
  });

  it('adds a user with a password, who signs in from another machine', async () => {
    assert.match(await ok(['user', 'add', 'ada', '--role', 'developer', '--password'], { input: 'correct horse battery staple\n' }), /Added ada as developer/);
    const users = await ok(['user', 'list']);
    assert.match(users, /ada\s+developer\s+set/);
    // The first start gave the first admin a password, for the dashboard.
    assert.match(users, /admin\s+admin\s+set/);

    const wrong = await slipway(['login', '--user', 'ada'], { server: server.url, env: elsewhere, input: 'not the password\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong user name or password/);
    assert.match(await ok(['login', '--user', 'ada'], { env: elsewhere, input: 'correct horse battery staple\n' }), /Signed in to .* as ada \(developer\)/);
    assert.match(await ok(['whoami'], { env: elsewhere }), /^ada \(developer\)/);
    assert.equal(statSync(join(elsewhere.XDG_CONFIG_HOME, 'slipway', 'credentials.json')).mode & 0o777, 0o600);
    assert.match(await ok(['run', 'api'], { env: elsewhere }), /Run #\d+ of api/);
  });

  it('creates a token shown once, lists it without its value, and revokes it', async () => {
    const created = await slipway(['token', 'create', '--name', 'release script', '--user', 'ada'], { server: server.url });
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^slw_[A-Za-z0-9_-]{43}$/, 'the token alone on stdout');
    assert.match(created.stderr, /Created token #\d+ "release script" for ada\. Copy it now; it is not shown again/);

    assert.match(await ok(['whoami'], { env: { ...elsewhere, SLIPWAY_TOKEN: token } }), /^ada \(developer\) .*from SLIPWAY_TOKEN/);
    const listed = await ok(['token', 'list', '--all']);
    assert.match(listed, /release script\s+ada/);
    assert.ok(!listed.includes(token), 'never the value');

    const id = /Created token #(\d+)/.exec(created.stderr)![1]!;
    assert.match(await ok(['token', 'revoke', id]), new RegExp(`Revoked token #${id}`));
    const revoked = await slipway(['whoami'], { server: server.url, env: { ...elsewhere, SLIPWAY_TOKEN: token } });
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /revoked, or never issued/);
  });

  it('changes roles, and a role too small is told what it needs', async () => {
    assert.match(await ok(['user', 'role', 'ada', 'viewer']), /ada is now viewer/);
    const refused = await slipway(['run', 'api'], { server: server.url, env: elsewhere });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /POST \/api\/runs needs role developer or above; ada is viewer/);
    const lastAdmin = await slipway(['user', 'role', 'admin', 'viewer'], { server: server.url });
    assert.equal(lastAdmin.code, 1);
    assert.match(lastAdmin.stderr, /admin is the last admin/);
    const badRole = await slipway(['user', 'role', 'ada', 'owner'], { server: server.url });
    assert.equal(badRole.code, 1);
    assert.match(badRole.stderr, /expected one of viewer, developer, deployer, admin/);
  });

  it('removes a user and their tokens; logout forgets the token', async () => {
    assert.match(await ok(['user', 'rm', 'ada']), /Removed ada and revoked their tokens/);
    const gone = await slipway(['whoami'], { server: server.url, env: elsewhere });
    assert.equal(gone.code, 1);
    assert.match(await ok(['logout'], { env: elsewhere }), /Signed out of/);
    assert.match(await ok(['logout'], { env: elsewhere }), /Not signed in to/);
  });
});
