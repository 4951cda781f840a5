// The Store conformance suite, fourth part: what runs behind the proxy (src/store/store.ts).
// Routes' stable ports: a route keeps its port, new routes take the lowest free one, a full
// range answers null, racing assigners never share a port, a released port is taken again.
// Previews: one live per environment (racing creators get one row), updates compare-and-set on
// status and generation, a removed one makes room for a new one. Each test gets a fresh store.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.ts';
import type { NewPreview } from '../../src/store/store.ts';

const AT = '2024-05-01T10:00:00.000Z';
const RANGE = { from: 20000, to: 20002 };

export function storeRuntimeConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance (routes and previews): ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('a route keeps the port it was first given; new routes take the lowest free port', async () => {
      const payment = await store.routes.assign('payment', 'staging', RANGE, AT);
      assert.deepEqual(payment, { service: 'payment', environment: 'staging', port: 20000, createdAt: AT });
      assert.equal((await store.routes.assign('payment', 'production', RANGE, AT))?.port, 20001);
      assert.deepEqual(await store.routes.assign('payment', 'staging', { from: 30000, to: 30001 }, '2030-01-01T00:00:00.000Z'), payment);
      assert.equal((await store.routes.assign('notification', 'staging', RANGE, AT))?.port, 20002);
      assert.equal(await store.routes.assign('search', 'staging', RANGE, AT), null);
      assert.deepEqual(
        (await store.routes.list()).map((route) => `${route.environment}/${route.service}:${route.port}`),
        ['production/payment:20001', 'staging/notification:20002', 'staging/payment:20000'],
      );
    });

    it('routes assigned at once never share a port', async () => {
      const services = ['a', 'b', 'c'];
      const assigned = await Promise.all(services.map((service) => store.routes.assign(service, 'staging', RANGE, AT)));
      assert.deepEqual(assigned.map((route) => route?.port).sort(), [20000, 20001, 20002]);
    });

    it('a released port is given to the next new route; releasing twice answers false', async () => {
      await store.routes.assign('a', 'pr1-a', RANGE, AT);
      await store.routes.assign('b', 'pr1-a', RANGE, AT);
      assert.equal(await store.routes.release('a', 'pr1-a'), true);
      assert.equal(await store.routes.release('a', 'pr1-a'), false);
      assert.equal((await store.routes.assign('c', 'pr2-c', RANGE, AT))?.port, 20000);
    });

    const preview = (environment = 'pr12-payment'): NewPreview => ({
      service: 'payment',
      pullRequest: 12,
      environment,
      commitSha: 'a'.repeat(40),
      runId: 7,
      createdAt: AT,
      expiresAt: '2024-05-04T10:00:00.000Z',
    });

    it('a preview is made starting at generation 1, once per environment, even when two race', async () => {
      const [first, second] = await Promise.all([store.previews.create(preview()), store.previews.create(preview())]);
      const made = first ?? second;
      assert.ok(made, 'one of them made it');
      assert.equal(first === null || second === null, true, 'the other got null');
      assert.deepEqual(
        { status: made.status, generation: made.generation, sandboxId: made.sandboxId, members: made.members, url: made.url, removedAt: made.removedAt, updatedAt: made.updatedAt },
        { status: 'starting', generation: 1, sandboxId: null, members: [], url: null, removedAt: null, updatedAt: AT },
      );
      assert.deepEqual(await store.previews.get(made.id), made);
      assert.deepEqual(await store.previews.live('pr12-payment'), made);
      assert.equal(await store.previews.live('pr13-payment'), null);
      assert.ok(await store.previews.create(preview('pr13-payment')));
    });

    it('updates are compare-and-set on status and generation', async () => {
      const made = (await store.previews.create(preview()))!;
      const members = [{ name: 'payment', kind: 'service' as const, image: 'registry/payment@sha256:1', releaseId: 3, url: 'http://payment.pr12-payment.localhost:8480' }];
      const ready = await store.previews.update(made.id, { statuses: ['starting'], generation: 1 }, { status: 'ready', sandboxId: 'pv1-1', members, releaseId: 3, url: members[0]!.url });
      assert.deepEqual([ready?.status, ready?.sandboxId, ready?.members, ready?.releaseId], ['ready', 'pv1-1', members, 3]);
      assert.equal(await store.previews.update(made.id, { statuses: ['starting'] }, { status: 'failed' }), null, 'a status it no longer has');
      assert.equal(await store.previews.update(made.id, { statuses: ['ready'], generation: 2 }, { status: 'failed' }), null, 'a generation it does not have');
      const updating = await store.previews.update(made.id, { statuses: ['ready', 'failed'], generation: 1 }, { generation: 2, commitSha: 'b'.repeat(40), runId: 8 });
      assert.deepEqual([updating?.generation, updating?.commitSha, updating?.runId, updating?.status], [2, 'b'.repeat(40), 8, 'ready']);
      assert.equal((await store.previews.get(made.id))?.generation, 2);
    });

    it('a removed preview is no longer live, and its environment may have a new one', async () => {
      const made = (await store.previews.create(preview()))!;
      await store.previews.update(made.id, { statuses: ['starting'] }, { status: 'removing', reason: 'pull request #12 was closed' });
      assert.equal(await store.previews.create(preview()), null, 'removing is still live');
      await store.previews.update(made.id, { statuses: ['removing'] }, { status: 'removed', removedAt: AT });
      assert.equal(await store.previews.live('pr12-payment'), null);
      const again = await store.previews.create(preview());
      assert.ok(again && again.id !== made.id);
      assert.deepEqual((await store.previews.list({ statuses: ['starting', 'ready'] })).map((found) => found.id), [again.id]);
      assert.deepEqual((await store.previews.list()).map((found) => found.id), [made.id, again.id]);
      assert.equal((await store.previews.get(made.id))?.reason, 'pull request #12 was closed');
    });
  });
}
