// The Router contract (src/routers/router.ts) as the deployer relies on it: stable addresses per
// declared route, backends added on standby, serve() switching, the proxy's own view of health,
// sessions and errors, removal that drains then cuts, and names that cannot reach the proxy's
// configuration. Every router runs this suite: the fake in test/unit/router-fake.test.ts,
// HAProxy in test/e2e/router-haproxy.test.ts. The harness makes a backend healthy or not,
// produces errors and holds sessions: real HTTP servers behind a real proxy, test hooks for the
// fake. A harness that can send requests through the proxy also shows which backend answers.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { RouterError, type Backend, type BackendState, type RouteKey, type RouteSpec, type Router } from '../../src/routers/router.ts';

export interface RouterHarness {
  router: Router;
  /** The address and shared port the router was made with. */
  proxy: { address: string; port: number };
  /** A route for `service` in `environment`, on ports of its own. */
  route(service: string, environment: string): Promise<RouteSpec>;
  /** A backend to add, answering its id; its health check fails until setHealthy(…, true). */
  backend(id: string): Promise<Backend>;
  setHealthy(key: RouteKey, id: string, healthy: boolean): Promise<void>;
  /** Has the proxy see `count` errors from a backend that serves alone. */
  produceErrors(key: RouteKey, id: string, count: number): Promise<void>;
  /** Opens a session on a backend that serves alone; it lasts until released (or cut). */
  holdSession(key: RouteKey, id: string): Promise<{ release(): Promise<void> }>;
  /** A real proxy: GET `path` on the route's own port. */
  request?(key: RouteKey, path: string): Promise<{ status: number; body: string }>;
  cleanup(): Promise<void>;
}

const WEB: RouteKey = { service: 'web', environment: 'staging' };
const API: RouteKey = { service: 'api', environment: 'staging' };
const UNDECLARED: RouteKey = { service: 'nowhere', environment: 'staging' };

export function routerConformance(name: string, setup: () => Promise<RouterHarness>, options: { skip?: string | false } = {}): void {
  describe(`Router conformance: ${name}`, { timeout: 300_000, skip: options.skip ?? false }, () => {
    let harness: RouterHarness;
    let router: Router;
    let web: RouteSpec;
    let api: RouteSpec;

    before(async () => {
      harness = await setup();
      router = harness.router;
      await router.start();
      web = await harness.route(WEB.service, WEB.environment);
      api = await harness.route(API.service, API.environment);
    });

    after(async () => {
      await router?.stop();
      await harness?.cleanup();
    });

    async function states(key = WEB): Promise<BackendState[]> {
      return router.backends(key);
    }
    async function state(id: string, key = WEB): Promise<BackendState | undefined> {
      return (await states(key)).find((backend) => backend.id === id);
    }
    async function modes(key = WEB): Promise<Array<[string, BackendState['mode']]>> {
      return (await states(key)).map((backend) => [backend.id, backend.mode]);
    }
    /** Who answers `count` requests through the proxy; null when the harness cannot send any. */
    async function answers(count = 6): Promise<Set<string> | null> {
      const request = harness.request;
      if (!request) return null;
      const bodies = new Set<string>();
      for (let i = 0; i < count; i++) {
        const answer: { status: number; body: string } = await request(WEB, '/');
        assert.equal(answer.status, 200, `a request through the proxy answered ${answer.status}: ${answer.body}`);
        bodies.add(answer.body);
      }
      return bodies;
    }
    async function healthy(id: string, key = WEB): Promise<void> {
      await harness.setHealthy(key, id, true);
      await eventually(`${id} up`, async () => (await state(id, key))?.health === 'up');
    }

    test('declare gives a route its addresses, the same after declaring it again and beside other routes', async () => {
      await router.declare([web]);
      const shown = harness.proxy.address === '0.0.0.0' ? '127.0.0.1' : harness.proxy.address;
      const address = router.address(WEB);
      assert.deepEqual(address, {
        url: `http://web.staging.localhost:${harness.proxy.port}`,
        portUrl: `http://${shown}:${web.port}`,
        internalUrl: `http://${web.names[0]}:${web.servicePort}`,
      });
      await router.declare([web, api]);
      assert.deepEqual(router.address(WEB), address);
      assert.equal(router.address(API)?.url, `http://api.staging.localhost:${harness.proxy.port}`);
      await router.declare([web]);
      assert.deepEqual(router.address(WEB), address);
      assert.equal(router.address(API), null, 'a route no longer declared has no address');
      await router.declare([web, api]);
      assert.deepEqual(router.address(WEB), address);
      assert.equal(router.address(UNDECLARED), null);
    });

    test('a backend added stands by: health checked, given no requests', async () => {
      const a = await harness.backend('a');
      await router.add(WEB, a);
      const [added] = await states();
      assert.equal(added?.id, 'a');
      assert.equal(added?.address, a.address);
      assert.equal(added?.mode, 'standby');
      assert.notEqual(added?.health, 'up', 'its health check fails');
      assert.equal(added?.sessions, 0);
      assert.equal(added?.errors, 0);
      if (harness.request) assert.equal((await harness.request(WEB, '/')).status, 503, 'no backend serves yet');
      assert.deepEqual(await states(API), [], 'other routes have none');
    });

    test('a backend whose checks pass comes up, and serve() gives it the requests', async () => {
      await healthy('a');
      assert.notEqual((await state('a'))?.lastCheck, '');
      assert.equal((await state('a'))?.mode, 'standby', 'coming up does not make it serve');
      await router.serve(WEB, ['a']);
      assert.deepEqual(await modes(), [['a', 'serving']]);
      const seen = await answers();
      if (seen) assert.deepEqual([...seen], ['a']);
    });

    test('serve() moves every new request to exactly the backends it names, the others standing by', async () => {
      await router.add(WEB, await harness.backend('b'));
      await healthy('b');
      await router.serve(WEB, ['b']);
      assert.deepEqual(await modes(), [
        ['a', 'standby'],
        ['b', 'serving'],
      ]);
      let seen = await answers();
      if (seen) assert.deepEqual([...seen], ['b']);
      await router.serve(WEB, ['a', 'b']);
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'serving'],
      ]);
      seen = await answers();
      if (seen) assert.deepEqual([...seen].sort(), ['a', 'b']);
      await router.serve(WEB, ['a']);
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'standby'],
      ]);
      seen = await answers();
      if (seen) assert.deepEqual([...seen], ['a']);
    });

    test('declaring routes, other ones or the same again, leaves a route its backends and their modes', async () => {
      const before = await modes();
      const third = await harness.route('worker', 'staging');
      await router.declare([web, api, third]);
      assert.deepEqual(await modes(), before);
      await router.declare([web, api]);
      assert.deepEqual(await modes(), before);
      await eventually('a and b up again', async () => (await states()).every((backend) => backend.health === 'up'));
      const seen = await answers();
      if (seen) assert.deepEqual([...seen], ['a']);
    });


    test('a route without a network is reached from outside, by host name and on its own port', async () => {
      const before = await modes();
      const preview: RouteSpec = { ...(await harness.route('web', 'pr1-web')), network: null };
      const key: RouteKey = { service: preview.service, environment: preview.environment };
      await router.declare([web, api, preview]);
      assert.equal(router.address(key)?.url, `http://web.pr1-web.localhost:${harness.proxy.port}`);
      assert.match(router.address(key)?.portUrl ?? '', new RegExp(`:${preview.port}$`));
      await router.add(key, await harness.backend('p'));
      await healthy('p', key);
      await router.serve(key, ['p']);
      if (harness.request) assert.deepEqual(await harness.request(key, '/'), { status: 200, body: 'p' });
      await router.remove(key, 'p', 1000);
      await router.declare([web, api]);
      assert.equal(router.address(key), null);
      assert.deepEqual(await modes(), before, 'the other routes keep their backends');
    });
    test('serve() refuses a backend the route does not have, and changes nothing', async () => {
      await assert.rejects(() => router.serve(WEB, ['b', 'ghost']), RouterError);
      await assert.rejects(() => router.serve(UNDECLARED, []), RouterError);
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'standby'],
      ]);
    });

    test('a backend that fails its checks goes down, says why, and comes back up', async () => {
      await harness.setHealthy(WEB, 'b', false);
      await eventually('b down', async () => (await state('b'))?.health === 'down');
      const down = await state('b');
      assert.ok(down?.lastCheck, 'the last check says what failed');
      assert.equal(down?.failing, true);
      assert.equal((await state('a'))?.health, 'up');
      assert.equal((await state('a'))?.failing, false);
      await healthy('b');
      assert.equal((await state('b'))?.failing, false);
    });

    test('a backend to fall back on takes the requests by itself while no serving backend is up, and gives them back', async () => {
      await router.serve(WEB, ['a'], ['b']);
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'fallback'],
      ]);
      let seen = await answers();
      if (seen) assert.deepEqual([...seen], ['a'], 'the fallback takes nothing while a serving backend is up');
      await harness.setHealthy(WEB, 'a', false);
      await eventually('a down', async () => (await state('a'))?.health === 'down');
      seen = await answers();
      if (seen) assert.deepEqual([...seen], ['b'], 'no caller switched: the proxy fell back');
      assert.equal((await state('b'))?.mode, 'fallback');
      await healthy('a');
      seen = await answers();
      if (seen) assert.deepEqual([...seen], ['a']);
      await router.serve(WEB, ['a']);
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'standby'],
      ]);
      await assert.rejects(() => router.serve(WEB, ['a'], ['ghost']), RouterError, 'a fallback the route does not have');
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'standby'],
      ]);
    });

    test('with nothing to fall back on, the serving backends take the requests even while none passes its checks (the proxy fails open)', async () => {
      const failOpen = async (when: string) => {
        await harness.setHealthy(WEB, 'a', false);
        await eventually(`a down ${when}`, async () => (await state('a'))?.health === 'down');
        const seen = await answers();
        if (seen) assert.deepEqual([...seen], ['a'], `${when}: the serving backend answers, the proxy refuses nothing`);
        assert.equal((await state('a'))?.mode, 'serving');
        await healthy('a');
      };
      await router.serve(WEB, ['a']);
      await failOpen('serving alone');
      await router.add(WEB, await harness.backend('g'));
      await healthy('g');
      await router.serve(WEB, ['a'], ['g']);
      await router.remove(WEB, 'g', 1000);
      await failOpen('once the backend to fall back on is removed');
      assert.deepEqual(await modes(), [
        ['a', 'serving'],
        ['b', 'standby'],
      ]);
    });

    test('errors count the failures the proxy saw from each backend since it was added', async () => {
      await harness.produceErrors(WEB, 'a', 3);
      await eventually('3 errors on a', async () => (await state('a'))?.errors === 3);
      assert.equal((await state('b'))?.errors, 0);
    });

    test('remove() waits for the sessions of a backend to end, then deletes it', async () => {
      const held = await harness.holdSession(WEB, 'a');
      await eventually('a session on a', async () => (await state('a'))?.sessions === 1);
      await router.serve(WEB, ['b']);
      const removal = router.remove(WEB, 'a', 600_000);
      // However long this waits, a drain cannot end while the session is open.
      assert.equal(await Promise.race([removal.then(() => 'removed'), sleep(300).then(() => 'draining')]), 'draining');
      const draining = await state('a');
      assert.equal(draining?.mode, 'standby');
      assert.equal(draining?.sessions, 1, 'its session carries on');
      await assert.rejects(() => router.serve(WEB, ['a']), RouterError, 'a backend being removed cannot serve again');
      await held.release();
      assert.deepEqual(await removal, { drained: true, cut: 0 });
      assert.deepEqual(await modes(), [['b', 'serving']]);
      const seen = await answers();
      if (seen) assert.deepEqual([...seen], ['b']);
    });

    test('remove() cuts what is left when the drain time runs out', async () => {
      await router.add(WEB, await harness.backend('c'));
      await healthy('c');
      await router.serve(WEB, ['c']);
      const held = await harness.holdSession(WEB, 'c');
      await eventually('a session on c', async () => (await state('c'))?.sessions === 1);
      await router.serve(WEB, ['b']);
      assert.deepEqual(await router.remove(WEB, 'c', 200), { drained: false, cut: 1 });
      await held.release();
      assert.deepEqual(await modes(), [['b', 'serving']]);
    });

    test('an abort ends the drain at once, cutting what is left', async () => {
      await router.add(WEB, await harness.backend('d'));
      await healthy('d');
      await router.serve(WEB, ['d']);
      const held = await harness.holdSession(WEB, 'd');
      await eventually('a session on d', async () => (await state('d'))?.sessions === 1);
      await router.serve(WEB, ['b']);
      const controller = new AbortController();
      const removal = router.remove(WEB, 'd', 600_000, controller.signal);
      controller.abort();
      assert.deepEqual(await removal, { drained: false, cut: 1 });
      await held.release();
      assert.deepEqual(await modes(), [['b', 'serving']]);
    });

    test('removing a backend that is gone, one twice at once, or one of a route not declared is no error', async () => {
      assert.deepEqual(await router.remove(WEB, 'ghost', 1000), { drained: true, cut: 0 });
      assert.deepEqual(await router.remove(UNDECLARED, 'a', 1000), { drained: true, cut: 0 });
      await router.add(WEB, await harness.backend('e'));
      const both = await Promise.all([router.remove(WEB, 'e', 1000), router.remove(WEB, 'e', 1000)]);
      assert.deepEqual(both, [
        { drained: true, cut: 0 },
        { drained: true, cut: 0 },
      ]);
      assert.deepEqual(await modes(), [['b', 'serving']]);
      await router.add(WEB, await harness.backend('e'));
      assert.equal((await state('e'))?.errors, 0, 'an id added again starts with no errors');
      await router.remove(WEB, 'e', 0);
    });

    test('ids, addresses and names that could break out of the proxy configuration are refused, changing nothing', async () => {
      const address = (await harness.backend('f')).address;
      for (const id of ['', 'a b', 'a;b', 'a/b', '../a', 'a\nb', 'é', 'a#b']) {
        await assert.rejects(() => router.add(WEB, { id, address }), RouterError, `id ${JSON.stringify(id)}`);
        await assert.rejects(() => router.remove(WEB, id, 0), RouterError, `removing id ${JSON.stringify(id)}`);
      }
      for (const bad of ['localhost:80', '127.0.0.1', '127.0.0.1:0', '1.2.3.4:70000', '127.0.0.1:80; del server x/y', '[::1:80', '::1:80']) {
        await assert.rejects(() => router.add(WEB, { id: 'f', address: bad }), RouterError, `address ${JSON.stringify(bad)}`);
      }
      await assert.rejects(() => router.add(WEB, { id: 'b', address }), RouterError, 'an id the route already has');
      await assert.rejects(() => router.add(UNDECLARED, { id: 'f', address }), RouterError, 'a route not declared');

      const hostile: Array<[string, RouteSpec]> = [
        ['a service name with a space', { ...web, service: 'web staging' }],
        ['an upper-case service name', { ...web, service: 'Web' }],
        ['a service name that ends the line', { ...web, service: 'web\n  bind :80' }],
        ['an environment name with a dot', { ...web, environment: 'a.b' }],
        ['a name with a comment', { ...web, names: ['web#x'] }],
        ['no names', { ...web, names: [] }],
        ['a health path with a space', { ...web, health: { ...web.health, path: '/h z' } }],
        ['a health path with a quote', { ...web, health: { ...web.health, path: '/h"' } }],
        ['a health interval of 0', { ...web, health: { ...web.health, intervalMs: 0 } }],
        ['a gateway that is no address', { ...web, network: { ...web.network!, gateway: 'gateway' } }],
        ['a subnet that is none', { ...web, network: { ...web.network!, subnet: '10.0.0.0/99' } }],
        ['a port out of range', { ...web, port: 70000 }],
      ];
      for (const [what, route] of hostile) await assert.rejects(() => router.declare([route, api]), RouterError, what);
      await assert.rejects(() => router.declare([web, { ...api, port: web.port }]), RouterError, 'two routes on one port');
      await assert.rejects(() => router.declare([web, { ...web }]), RouterError, 'one route twice');
      await assert.rejects(() => router.declare([web, { ...api, servicePort: web.servicePort, names: web.names }]), RouterError, 'two routes called by one name');
      await assert.rejects(() => router.declare([web, { ...api, port: harness.proxy.port }]), RouterError, "a route on the proxy's shared port");

      assert.equal(router.address(WEB)?.portUrl.endsWith(`:${web.port}`), true);
      assert.equal(router.address(API)?.url, `http://api.staging.localhost:${harness.proxy.port}`);
      assert.deepEqual(await modes(), [['b', 'serving']]);
      const seen = await answers();
      if (seen) assert.deepEqual([...seen], ['b']);
    });
  });
}

/** Polls until `check` holds; fails after a generous while (a guard, not a measure). */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not after ${timeoutMs / 1000} s`);
    await sleep(25);
  }
}
