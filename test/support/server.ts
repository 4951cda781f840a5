// A real `slipway up` on a small configuration (one service on a local git repository, steps as
// local processes) and plain HTTP requests to it, for tests that talk to the server as any
// client would, token or not.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { savedTokenFor, startServerProcess, type ServerProcess } from './cli.ts';
import { makeRepository } from './repository.ts';

export interface LocalServer {
  url: string;
  root: string;
  process: ServerProcess;
  /** The first admin's token, as the first start saved it for the CLI; undefined when none was saved. */
  adminToken: string | undefined;
  request(method: string, path: string, options?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  body: any;
  text: string;
}


/** Starts `slipway up --process` with `pipeline` (YAML lines) for one service, `api`. */
export async function startLocalServer(pipeline: string[] = ['  - stage: test', '    run: echo testing; sleep 2']): Promise<LocalServer> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-server-'));
  const repo = makeRepository(root, 'api', { 'README.md': 'api\n' });
  const config = join(root, 'slipway.yml');
  writeFileSync(config, ['pipeline:', ...pipeline, 'services:', '  api:', `    repo: ${repo}`, ''].join('\n'));
  const server = await startServerProcess(['--config', config, '--data', join(root, 'data'), '--process']);
  const adminToken = savedTokenFor(server.url);
  return {
    url: server.url,
    root,
    process: server,
    adminToken,
    async request(method, path, options = {}) {
      const token = options.token === undefined ? adminToken : options.token;
      const headers: Record<string, string> = { ...options.headers };
      if (token !== null && token !== undefined) headers.authorization = `Bearer ${token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
        signal: AbortSignal.timeout(30_000),
      });
      // The event stream would never end: its status and headers say enough.
      const text = response.headers.get('content-type')?.startsWith('text/event-stream') ? (await response.body?.cancel(), '') : await response.text();
      let body: unknown = undefined;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      return { status: response.status, body, text };
    },
    async close() {
      await server.kill();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
