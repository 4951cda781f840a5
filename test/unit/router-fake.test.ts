// The FakeRouter runs the Router conformance suite, its test hooks standing in for real
// backends: health, errors and sessions are what the test sets.

import { FakeRouter } from '../../src/routers/fake/router.ts';
import { routerConformance } from './router-conformance.ts';

routerConformance('fake', async () => {
  const router = new FakeRouter({ address: '127.0.0.1', port: 8080 });
  let nextPort = 20_000;
  let nextAddress = 1;
  return {
    router,
    proxy: { address: '127.0.0.1', port: 8080 },
    async route(service, environment) {
      return {
        service,
        environment,
        port: nextPort++,
        servicePort: 3000,
        names: [service, `${service}-alias`],
        network: { gateway: '10.99.0.1', subnet: '10.99.0.0/24' },
        health: { path: '/healthz', intervalMs: 100, timeoutMs: 1000, successes: 2, failures: 2 },
      };
    },
    async backend(id) {
      return { id, address: `10.99.0.${nextAddress++}:3000` };
    },
    async setHealthy(key, id, healthy) {
      router.setHealth(key, id, healthy ? 'up' : 'down');
    },
    async produceErrors(key, id, count) {
      router.addErrors(key, id, count);
    },
    async holdSession(key, id) {
      const sessions = async () => (await router.backends(key)).find((backend) => backend.id === id)?.sessions ?? 0;
      router.setSessions(key, id, (await sessions()) + 1);
      return {
        async release() {
          // A session that was cut is gone with its backend.
          if ((await router.backends(key)).some((backend) => backend.id === id)) router.setSessions(key, id, (await sessions()) - 1);
        },
      };
    },
    async cleanup() {},
  };
});
