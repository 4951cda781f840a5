// The fake Sandbox keeps the contract the integration stage relies on (sandbox-conformance.ts).

import { FakeSandbox } from '../../src/sandboxes/fake/sandbox.ts';
import type { ReadinessCheck } from '../../src/config/integration.ts';
import { sandboxConformance } from './sandbox-conformance.ts';

const HTTP: ReadinessCheck = { kind: 'http', path: '/', intervalMs: 100, timeoutMs: 1000 };

sandboxConformance('fake', async () => {
  const sandbox = new FakeSandbox();
  const member = (name: string, image: string, aliases: string[] = []) => ({ name, aliases, image, command: null, env: {}, port: 8080, readiness: HTTP });
  return {
    sandbox,
    port: 8080,
    ready: (name, aliases) => member(name, 'ready', aliases),
    neverReady(name, lines) {
      sandbox.image(`stuck-${name}`, { state: 'never-ready', lines });
      return member(name, `stuck-${name}`);
    },
    exiting(name, lines) {
      sandbox.image(`exits-${name}`, { state: 'exits', lines });
      return member(name, `exits-${name}`);
    },
    cleanup: async () => undefined,
  };
});
