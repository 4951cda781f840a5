// Attack: a delivery signed with one repository's secret that names another repository too.
//
// Whoever holds repository A's webhook secret (its admins on the forge, anyone who set the
// hook up) signs a push that names A in its full name, so A's secret verifies it, and B in one
// of its URLs, so B's services run: B's secret, which they do not have, is never asked for.
// The same with a URL naming A's full name on another host, where a service is built from a
// repository of that name (a mirror). Every forge names its repository in several places;
// each place must name the repository whose secret verified the delivery.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, giteaDelivery, githubDelivery, githubExample, gitlabDelivery, replaceEverywhere, setField, type Payload, type Signed } from '../support/webhooks.ts';
import { wired, type Wired } from '../support/wired.ts';

const A_SECRET = 'secret-of-repository-a';
const B_SECRET = 'secret-of-repository-b-that-the-attacker-does-not-have';
const EXAMPLE_SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

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
      acme/shop: { secret: ${A_SECRET} }
      acme/billing: { secret: ${B_SECRET} }
  gitlab:
    url: http://example.com
    repositories:
      mike/diaspora: { secret: ${A_SECRET} }
      mike/billing: { secret: ${B_SECRET} }
  gitea:
    url: http://localhost:3000
    repositories:
      gitea/webhooks: { secret: ${A_SECRET} }
      gitea/billing: { secret: ${B_SECRET} }
services:
  shop:
    repo: https://github.com/acme/shop.git
    branch: master
    port: 8080
  billing:
    repo: https://github.com/acme/billing.git
    branch: master
    port: 8080
  shop-mirror:
    repo: https://git.internal.example/acme/shop.git
    branch: master
    port: 8080
  diaspora:
    repo: http://example.com/mike/diaspora.git
    branch: master
    port: 8080
  gitlab-billing:
    repo: http://example.com/mike/billing.git
    branch: master
    port: 8080
  webhooks:
    repo: http://localhost:3000/gitea/webhooks.git
    branch: develop
    port: 8080
  gitea-billing:
    repo: http://localhost:3000/gitea/billing.git
    branch: develop
    port: 8080
`;

/** GitHub's real branch-creation push, moved to acme/shop (repository A). */
function githubPushOfA(): Payload {
  const push = githubExample('push', 'a branch creation', (example) => example.ref === 'refs/heads/master' && example.created === true);
  const moved = replaceEverywhere(push, { 'Codertocat/Hello-World': 'acme/shop', [EXAMPLE_SHA]: 'a'.repeat(40) });
  setField(moved, 'repository.name', 'shop');
  setField(moved, 'repository.owner.login', 'acme');
  setField(moved, 'repository.owner.name', 'acme');
  return moved;
}

let world: Wired;
before(async () => {
  world = await wired(CONFIG);
});
after(() => world.close());

/** Delivers, lets the inbox handle what was accepted, and answers with what it led to. */
async function attack(forge: string, delivery: Signed) {
  const runsBefore = (await world.store.runs.list()).length;
  const reception = await world.triggers.receiver.receive(forge, delivery.headers, delivery.body);
  await world.triggers.inbox.idle();
  const started = (await world.store.runs.list()).slice(0, (await world.store.runs.list()).length - runsBefore);
  return { reception, started: started.map((run) => run.service).sort() };
}

function assertRefused(outcome: Awaited<ReturnType<typeof attack>>, field: string): void {
  assert.deepEqual(outcome.started, [], `the delivery started runs of ${outcome.started.join(', ')}`);
  assert.equal(outcome.reception.kind, 'rejected', JSON.stringify(outcome.reception));
  assert.ok(outcome.reception.kind === 'rejected');
  assert.equal(outcome.reception.error.code, 'WEBHOOK_REPOSITORY_MISMATCH');
  assert.equal(outcome.reception.error.status, 403);
  assert.ok(outcome.reception.error.message.startsWith(field), outcome.reception.error.message);
}

describe('a delivery signed with repository A secret that names repository B', () => {
  it('GitHub: A in full_name, B in clone_url starts nothing', async () => {
    // The honest push runs A's service only: the set-up works.
    const honest = await attack('github', githubDelivery('push', githubPushOfA(), A_SECRET));
    assert.deepEqual(honest.started, ['shop']);

    const lying = githubPushOfA();
    setField(lying, 'repository.clone_url', 'https://github.com/acme/billing.git');
    assertRefused(await attack('github', githubDelivery('push', lying, A_SECRET)), 'repository.clone_url');
  });

  it("GitHub: A's full name on another host (where a mirror of it is built) starts nothing", async () => {
    const lying = githubPushOfA();
    setField(lying, 'repository.ssh_url', 'git@git.internal.example:acme/shop.git');
    assertRefused(await attack('github', githubDelivery('push', lying, A_SECRET)), 'repository.ssh_url');
  });

  it('GitLab: A in path_with_namespace, B in a project URL starts nothing', async () => {
    const honest = await attack('gitlab', gitlabDelivery('Push Hook', fixture('gitlab', 'push'), A_SECRET));
    assert.deepEqual(honest.started, ['diaspora']);

    const lying = fixture('gitlab', 'push');
    setField(lying, 'project.git_ssh_url', 'git@example.com:mike/billing.git');
    assertRefused(await attack('gitlab', gitlabDelivery('Push Hook', lying, A_SECRET)), 'project.git_ssh_url');
  });

  it('Gitea: A in full_name, B in ssh_url starts nothing', async () => {
    const honest = await attack('gitea', giteaDelivery('push', fixture('gitea', 'push'), A_SECRET));
    assert.deepEqual(honest.started, ['webhooks']);

    const lying = fixture('gitea', 'push');
    setField(lying, 'repository.ssh_url', 'ssh://gitea@localhost:2222/gitea/billing.git');
    assertRefused(await attack('gitea', giteaDelivery('push', lying, A_SECRET)), 'repository.ssh_url');
  });

  it('nothing of a refused delivery is stored', async () => {
    const stored = await world.store.deliveries.list({ limit: 100 });
    assert.deepEqual(stored.map((delivery) => delivery.repository).sort(), ['acme/shop', 'gitea/webhooks', 'mike/diaspora']);
  });
});
