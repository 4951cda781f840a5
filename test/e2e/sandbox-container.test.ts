// The container engine's Sandbox keeps the contract (sandbox-conformance.ts) on real Podman:
// an isolated network per sandbox whose DNS answers members' names and aliases.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ContainerSandbox } from '../../src/sandboxes/container/sandbox.ts';
import type { ReadinessCheck } from '../../src/config/integration.ts';
import { sandboxConformance } from '../unit/sandbox-conformance.ts';
import { requireBusybox } from '../support/engine.ts';

const run = promisify(execFile);
const OWNER = `sbx${process.pid}`;
const PORT = 8080;
const HTTP: ReadinessCheck = { kind: 'http', path: '/', intervalMs: 200, timeoutMs: 1000 };
const PORT_OPEN: ReadinessCheck = { kind: 'port', intervalMs: 200, timeoutMs: 500 };

sandboxConformance('container engine (Podman)', async () => {
  const { engine, image } = await requireBusybox();
  const sandbox = new ContainerSandbox(engine, OWNER);
  const printing = (lines: string[]) => lines.map((line) => `echo '${line}'`).join('; ');
  return {
    sandbox,
    port: PORT,
    ready: (name, aliases = []) => ({
      name,
      aliases,
      image,
      command: ['sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p ${PORT} -h /www`],
      env: {},
      port: PORT,
      readiness: HTTP,
    }),
    neverReady: (name, lines) => ({ name, aliases: [], image, command: ['sh', '-c', `${printing(lines)}; exec sleep 3600`], env: {}, port: PORT, readiness: PORT_OPEN }),
    exiting: (name, lines) => ({ name, aliases: [], image, command: ['sh', '-c', `${printing(lines)}; exit 3`], env: {}, port: PORT, readiness: PORT_OPEN }),
    async reaches(id, from, host, port) {
      const container = `slipway-${OWNER}-${id}-${from}`;
      // busybox's nc, not its wget: the static wget crashes looking a name up.
      const request = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`;
      const { stdout } = await run('podman', ['exec', container, 'sh', '-c', request]).catch(() => ({ stdout: '' }));
      return stdout.startsWith('HTTP/1.1 200');
    },
    cleanup: async () => undefined,
  };
});
