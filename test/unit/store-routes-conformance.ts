// The Store conformance suite, fourth part: routes' stable ports (src/store/store.ts
// RouteRepository): a route keeps its port, new routes take the lowest free one, a full range
// answers null, and racing assigners never share a port. Each test gets a fresh, empty store.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Store } from '../../src/store/store.ts';

const AT = '2024-05-01T10:00:00.000Z';
const RANGE = { from: 20000, to: 20002 };

export function storeRoutesConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance (routes): ${name}`, () => {
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
  });
}
