// Attack: call the API as nobody. Before, any local process could start, cancel and rerun
// runs, set webhook secrets and register git hooks without saying who it was. Now every /api
// route and the event stream answer 401 without a valid token and 403 when the caller's role
// does not allow the call; refusals are counted by reason without the token that was sent,
// and every change made through the API is in the event log with who made it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startLocalServer, type Answer, type LocalServer } from '../support/server.ts';

/** Every /api route, with a body where it takes one (test/unit/api.test.ts checks none is missing). */
const ROUTES: Array<[string, string, unknown?]> = [
  ['GET', '/api/info'],
  ['GET', '/api/services'],
  ['GET', '/api/services/api'],
  ['POST', '/api/runs', { service: 'api' }],
  ['GET', '/api/runs'],
  ['GET', '/api/runs/1'],
  ['POST', '/api/runs/1/cancel'],
  ['POST', '/api/runs/1/rerun'],
  ['POST', '/api/runs/1/resume'],
  ['GET', '/api/runs/1/logs'],
  ['GET', '/api/releases'],
  ['GET', '/api/deployments'],
  ['GET', '/api/deliveries'],
  ['GET', '/api/deliveries/1'],
  ['GET', '/api/webhooks'],
  ['PUT', '/api/webhook-secrets', { forge: 'github', repository: 'acme/api', secret: 'attacker-chosen-secret' }],
  ['DELETE', '/api/webhook-secrets', { forge: 'github', repository: 'acme/api' }],
  ['POST', '/api/git-hooks', { repository: '/srv/git/api.git' }],
  ['GET', '/api/schedules'],
  ['GET', '/api/event-log'],
  ['GET', '/api/events'],
  ['GET', '/api/me'],
  ['GET', '/api/users'],
  ['POST', '/api/users', { name: 'mallory', role: 'admin' }],
  ['PATCH', '/api/users/admin', { role: 'viewer' }],
  ['DELETE', '/api/users/admin'],
  ['GET', '/api/tokens'],
  ['POST', '/api/tokens', { name: 'mine now' }],
  ['DELETE', '/api/tokens/1'],
  ['GET', '/api/refusals'],
  ['GET', '/api/runs/1/approval'],
  ['POST', '/api/runs/1/approve', {}],
  ['POST', '/api/runs/1/reject', { comment: 'no' }],
  ['POST', '/api/services/api/promote', { release: 1, environment: 'production' }],
  ['POST', '/api/services/api/rollback', { environment: 'production' }],
  ['GET', '/api/services/api/releases'],
  ['GET', '/api/locks'],
  ['POST', '/api/locks', { environment: 'production', reason: 'mine' }],
  ['DELETE', '/api/locks/production'],
  ['GET', '/api/secrets'],
  ['PUT', '/api/secrets/production/DB_PASSWORD', { value: 'attacker-chosen' }],
  ['DELETE', '/api/secrets/production/DB_PASSWORD'],
  ['POST', '/api/secrets/rotate-key'],
  ['GET', '/api/audit'],
  ['GET', '/api/previews'],
  ['GET', '/api/previews/1'],
  ['DELETE', '/api/previews/1'],
  ['GET', '/api/metrics'],
  ['GET', '/api/fleet'],
  ['GET', '/api/notification-channels'],
];

const FORGED = `slw_${'x'.repeat(43)}`;
let server: LocalServer;

before(async () => {
  server = await startLocalServer();
});
after(() => server.close());

function assertRefused(answer: Answer, status: number, code: string, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.text}`);
  assert.equal(answer.body?.error?.code, code, what);
}

async function tokenFor(name: string, role: string): Promise<string> {
  assert.equal((await server.request('POST', '/api/users', { body: { name, role } })).status, 201);
  const issued = await server.request('POST', '/api/tokens', { body: { name: `${name}'s token`, user: name } });
  assert.equal(issued.status, 201, issued.text);
  return issued.body.token as string;
}

describe('attack: the API without a token, or with a role too small', () => {
  it('refuses every route and the event stream without a valid token, and changes nothing', async () => {
    for (const [method, path, body] of ROUTES) {
      assertRefused(await server.request(method, path, { token: null, body }), 401, 'UNAUTHENTICATED', `${method} ${path} without a token`);
      assertRefused(await server.request(method, path, { token: FORGED, body }), 401, 'UNAUTHENTICATED', `${method} ${path} with a forged token`);
      const basic = await server.request(method, path, { token: null, body, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
      assertRefused(basic, 401, 'UNAUTHENTICATED', `${method} ${path} with basic credentials`);
    }
    assert.ok(server.adminToken, 'the first start saved an admin token for the CLI');
    const runs = await server.request('GET', '/api/runs');
    assert.deepEqual(runs.body, [], 'no run was started');
    const webhooks = await server.request('GET', '/api/webhooks');
    assert.deepEqual(webhooks.body.secrets, [], 'no webhook secret was set');
    assert.deepEqual((await server.request('GET', '/api/users')).body.map((user: { name: string }) => user.name), ['admin']);
  });

  it('keeps /healthz open, saying only that the server is alive', async () => {
    const health = await server.request('GET', '/healthz', { token: null });
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
  });

  it('answers 403 when the role does not allow the call, and lets each role do its part', async () => {
    const viewer = await tokenFor('vera', 'viewer');
    const developer = await tokenFor('dev', 'developer');
    const deployer = await tokenFor('dora', 'deployer');

    for (const token of [viewer, developer, deployer]) {
      assert.equal((await server.request('GET', '/api/runs', { token })).status, 200);
      assert.equal((await server.request('GET', '/api/event-log', { token })).status, 200);
      assertRefused(await server.request('PUT', '/api/webhook-secrets', { token, body: ROUTES[15]![2] }), 403, 'FORBIDDEN', 'set a webhook secret');
      assertRefused(await server.request('POST', '/api/git-hooks', { token, body: ROUTES[17]![2] }), 403, 'FORBIDDEN', 'register a git hook');
      assertRefused(await server.request('PUT', '/api/secrets/production/DB_PASSWORD', { token, body: { value: 'x' } }), 403, 'FORBIDDEN', 'set an environment secret');
      assertRefused(await server.request('POST', '/api/secrets/rotate-key', { token }), 403, 'FORBIDDEN', 'rotate the secret key');
      assertRefused(await server.request('POST', '/api/users', { token, body: { name: 'mallory', role: 'admin' } }), 403, 'FORBIDDEN', 'add a user');
      assertRefused(await server.request('GET', '/api/refusals', { token }), 403, 'FORBIDDEN', 'read the refusals');
    }
    assertRefused(await server.request('POST', '/api/runs', { token: viewer, body: { service: 'api' } }), 403, 'FORBIDDEN', 'a viewer starts a run');
    assertRefused(await server.request('POST', '/api/runs/1/approve', { token: viewer, body: {} }), 403, 'FORBIDDEN', 'a viewer approves');
    assertRefused(await server.request('POST', '/api/services/api/promote', { token: developer, body: { release: 1, environment: 'staging' } }), 403, 'FORBIDDEN', 'a developer promotes');
    assertRefused(await server.request('POST', '/api/services/api/rollback', { token: developer, body: { environment: 'staging' } }), 403, 'FORBIDDEN', 'a developer rolls back');
    assertRefused(await server.request('POST', '/api/locks', { token: developer, body: { environment: 'staging', reason: 'x' } }), 403, 'FORBIDDEN', 'a developer locks');
    assertRefused(await server.request('DELETE', '/api/previews/1', { token: viewer }), 403, 'FORBIDDEN', 'a viewer removes a preview');
    assert.equal((await server.request('GET', '/api/previews', { token: viewer })).status, 200, 'a viewer lists previews');


    const started = await server.request('POST', '/api/runs', { token: developer, body: { service: 'api' } });
    assert.equal(started.status, 201, started.text);
    assert.deepEqual(started.body.trigger, { kind: 'manual', by: 'dev' });
    assertRefused(await server.request('POST', `/api/runs/${started.body.id}/cancel`, { token: viewer }), 403, 'FORBIDDEN', 'a viewer cancels');
    const cancelled = await server.request('POST', `/api/runs/${started.body.id}/cancel`, { token: deployer });
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.reason, 'cancelled by dora');

    const set = await server.request('PUT', '/api/webhook-secrets', { body: { forge: 'github', repository: 'acme/api', secret: 'a-real-secret' } });
    assert.equal(set.status, 204, set.text);

    const log = (await server.request('GET', '/api/event-log?limit=1000')).body as Array<{ type: string; actor: string | null; runId: number | null }>;
    const actorOf = (type: string) => log.filter((event) => event.type === type).at(-1)?.actor;
    assert.equal(actorOf('run.created'), 'dev');
    assert.equal(actorOf('run.cancel_requested'), 'dora');
    assert.equal(actorOf('webhook_secret.set'), 'admin');
    assert.equal(actorOf('user.created'), 'admin');
    assert.equal(actorOf('token.created'), 'admin');
  });

  it('counts refusals by reason, and keeps none of the tokens that were sent', async () => {
    const refusals = await server.request('GET', '/api/refusals');
    assert.equal(refusals.status, 200, refusals.text);
    const counts = refusals.body.api as Record<string, number>;
    assert.ok((counts.missing_token ?? 0) >= ROUTES.length, JSON.stringify(counts));
    assert.ok((counts.unknown_token ?? 0) >= ROUTES.length, JSON.stringify(counts));
    assert.ok((counts.malformed_token ?? 0) >= ROUTES.length, JSON.stringify(counts));
    assert.ok((counts.forbidden ?? 0) >= 13, JSON.stringify(counts));
    const everything = JSON.stringify([refusals.body, (await server.request('GET', '/api/event-log?limit=1000')).body]);
    assert.ok(!everything.includes(FORGED.slice(4)), 'the forged token is not kept');
  });

  it('refuses a body over the API limit with 413, naming the limit', async () => {
    const huge = JSON.stringify({ service: 'api', ref: 'x'.repeat(2 * 1024 * 1024) });
    const answer = await server.request('POST', '/api/runs', { body: huge });
    assertRefused(answer, 413, 'PAYLOAD_TOO_LARGE', 'a 2 MiB body');
    assert.match(answer.body.error.message, /limit of 1048576 bytes/);
  });
});
