// The local registry: when the configuration names one on this machine (127.0.0.1 or
// localhost) and nothing answers there, start Debian's docker-registry with its storage in
// Slipway's data folder. It is detached so deployed images stay pullable across restarts.

import { execFile, spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type RegistryCheck =
  | { state: 'answering' }
  | { state: 'started'; pid: number }
  | { state: 'remote' }
  | { state: 'unavailable'; reason: string };

export function isLocalRegistry(address: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost)(:\d+)?$/.test(address);
}

export async function registryAnswers(address: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(2000) });
    return response.status === 200 || response.status === 401;
  } catch {
    return false;
  }
}

export async function ensureLocalRegistry(address: string, dataDir: string): Promise<RegistryCheck> {
  if (!isLocalRegistry(address)) return { state: 'remote' };
  if (await registryAnswers(address)) return { state: 'answering' };
  try {
    await execFileAsync('docker-registry', ['--version']);
  } catch {
    return { state: 'unavailable', reason: `no registry answers at ${address} and docker-registry is not installed (run scripts/setup-host.sh)` };
  }
  const folder = join(dataDir, 'registry');
  mkdirSync(folder, { recursive: true });
  const configFile = join(folder, 'config.yml');
  writeFileSync(
    configFile,
    [
      'version: 0.1',
      'log: { level: warn, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(join(folder, 'data'))} }, delete: { enabled: true } }`,
      `http: { addr: ${JSON.stringify(address.replace(/^localhost/, '127.0.0.1'))} }`,
      '',
    ].join('\n'),
  );
  const output = openSync(join(folder, 'registry.log'), 'a');
  const child = spawn('docker-registry', ['serve', configFile], { detached: true, stdio: ['ignore', output, output] });
  child.unref();
  for (let attempt = 0; attempt < 50; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (await registryAnswers(address)) return { state: 'started', pid: child.pid! };
  }
  return { state: 'unavailable', reason: `started docker-registry, but nothing answers at ${address}; see ${join(folder, 'registry.log')}` };
}
