// Attack: a signed delivery sent again, or sent late.
//
// A delivery's signature covers its body only, not its delivery id, so whoever captured one
// (from a proxy's log, the forge's delivery log, Slipway's own API) can send the same bytes
// again under an id of their choosing: that must start nothing, whatever the id. And a push
// handled after its branch moved on (delivered late, or redelivered from the forge's log) must
// not deploy its older commit over the newer one.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { webhookListener } from '../../src/server/hooks.ts';
import { until } from '../support/wait.ts';
import { githubDelivery, githubExample, replaceEverywhere, setField, type Payload, type Signed } from '../support/webhooks.ts';
import { wired, type Wired } from '../support/wired.ts';

const SECRET = 'secret-of-acme-shop';
const REPO = 'https://github.com/acme/shop.git';
const EXAMPLE_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const [OLD, DEPLOYED, NEWER] = ['1'.repeat(40), '2'.repeat(40), '3'.repeat(40)];

const CONFIG = `
registry: registry.test
pipeline:
  - stage: test
    run: make test
  - stage: build
  - stage: deploy
    environment: production
environments:
  production: {}
forges:
  github:
    repositories:
      acme/shop: { secret: ${SECRET} }
services:
  shop:
    repo: ${REPO}
    branch: master
    port: 8080
`;

/** GitHub's real push, moved to acme/shop and to the commits `before`..`after` of master. */
function push(before: string, after: string): Payload {
  const example = githubExample('push', 'a branch creation', (candidate) => candidate.ref === 'refs/heads/master' && candidate.created === true);
  const moved = replaceEverywhere(example, { 'Codertocat/Hello-World': 'acme/shop', [EXAMPLE_SHA]: after });
  setField(moved, 'repository.name', 'shop');
  setField(moved, 'repository.owner.login', 'acme');
  setField(moved, 'repository.owner.name', 'acme');
  setField(moved, 'before', before);
  setField(moved, 'created', false);
  return moved;
}

let world: Wired;
let server: Server;
let hooks: string;

before(async () => {
  world = await wired(CONFIG);
  server = createServer(webhookListener(world.triggers.receiver));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hooks = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/github`;
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await world.close();
});

async function post(delivery: Signed): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(hooks, { method: 'POST', headers: delivery.headers, body: new Uint8Array(delivery.body) });
  const body = (await response.json()) as Record<string, unknown>;
  await world.triggers.inbox.idle();
  return { status: response.status, body };
}

async function ended(runId: number) {
  return until(
    `run ${runId} to end`,
    async () => {
      const run = await world.store.runs.get(runId);
      return run && ['succeeded', 'failed', 'cancelled'].includes(run.status) ? run : null;
    },
    60_000,
  );
}

describe('replayed and late deliveries', () => {
  it('a captured signed push sent again under a new delivery id starts nothing and is answered repeated', async () => {
    world.source.setRef(REPO, 'master', DEPLOYED).setChanges(REPO, OLD, DEPLOYED, ['src/app.ts']);
    const original = githubDelivery('push', push(OLD, DEPLOYED), SECRET, 'captured-delivery');
    const first = await post(original);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const [run] = await world.store.runs.list();
    assert.ok(run, 'the original delivery started a run');
    assert.equal((await ended(run.id)).status, 'succeeded');
    assert.deepEqual(world.deployer.calls.map((call) => call.release.commitSha), [DEPLOYED]);

    // The same bytes and signature; only the id, which no signature covers, is new.
    const replay = await post({ headers: { ...original.headers, 'x-github-delivery': 'replayed-delivery' }, body: original.body });
    assert.deepEqual((await world.store.runs.list()).map((listed) => listed.id), [run.id], 'the replay started a run');
    assert.equal(replay.status, 200, JSON.stringify(replay.body));
    assert.equal(replay.body.status, 'repeated');
    assert.equal((await world.store.deliveries.list()).length, 1);

    // Nor does Slipway keep the signature for a reader of its API to replay the body with.
    const [stored] = await world.store.deliveries.list();
    assert.equal(stored?.headers['x-hub-signature-256'], undefined);
  });

  it('an old push delivered after its branch moved on deploys nothing', async () => {
    world.source.setRef(REPO, 'master', NEWER);
    const deploysBefore = world.deployer.calls.length;
    const late = await post(githubDelivery('push', push(DEPLOYED, OLD), SECRET, 'late-delivery'));
    assert.equal(late.status, 202, JSON.stringify(late.body));
    const [run] = await world.store.runs.list();
    assert.ok(run && run.commitSha === OLD, 'the late push started a run of its commit');
    await ended(run.id);

    assert.equal(world.deployer.calls.length, deploysBefore, `the late push deployed ${OLD.slice(0, 12)} over the newer head`);
    const deploy = (await world.store.stages.listByRun(run.id)).find((stage) => stage.name === 'deploy');
    assert.equal(deploy?.status, 'skipped');
    assert.match(deploy?.reason ?? '', /^111111111111 is no longer the head of master \(now 333333333333\); its run stops after the build$/);
    const delivery = (await world.store.deliveries.list()).find((stored) => stored.deliveryId === 'late-delivery');
    assert.equal(
      delivery?.outcome,
      `push to master started run #${run.id} of shop (shop: 111111111111 is no longer the head of master (now 333333333333); run #${run.id} stops after the build)`,
    );
  });
});
