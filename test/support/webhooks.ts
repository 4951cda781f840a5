// End-to-end webhook scenarios: a real Slipway server started in-process (process executor, a
// temp data folder, a slipway.yml written by the test), real git repositories, and real forge
// payloads (@octokit/webhooks-examples, test/fixtures/gitlab, test/fixtures/gitea) whose shas
// are replaced by the commits the test made, then signed the way each forge signs them.
//
// Services name their repositories by forge URLs (https://github.com/<owner>/<name>.git); git's
// own URL rewriting (url.<base>.insteadOf, given through GIT_CONFIG_COUNT/KEY/VALUE in the
// server's environment) makes the server clone a local bare repository under that URL instead.

import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import type { RunDetail, RunSummary } from '../../src/client/api.ts';
import type { Delivery } from '../../src/core/types.ts';
import { startServer, type RunningServer } from '../../src/server/main.ts';
import { credentialsPath } from '../../src/auth/credentials.ts';
import { CONFIG_HOME, savedTokenFor } from './cli.ts';
import { git } from './git-hook.ts';

export { git, GIT_ENV, runGit } from './git-hook.ts';

export const ZERO_SHA = '0'.repeat(40);

// ---------------------------------------------------------------------------------------------
// Payloads

// The package's JSON is its main entry; an import attribute would type it as a module, not the list.
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

/** A JSON object as a forge sends it; tests change values in it, never its shape. */
export type Payload = Record<string, unknown>;

/** A deep copy of the first example of a GitHub event that `matches` picks. */
export function githubExample(event: WebhookDefinition['name'], what: string, matches: (example: Payload) => boolean = () => true): Payload {
  const definition = definitions.find((candidate) => candidate.name === event);
  assert.ok(definition, `@octokit/webhooks-examples has ${event} examples`);
  const found = (definition.examples as unknown as Payload[]).find(matches);
  assert.ok(found, `@octokit/webhooks-examples has ${what}`);
  return structuredClone(found);
}

/** A deep copy of a payload in test/fixtures/<forge>/<name>.json. */
export function fixture(forge: 'gitlab' | 'gitea', name: string): Payload {
  return JSON.parse(readFileSync(new URL(`../fixtures/${forge}/${name}.json`, import.meta.url), 'utf8')) as Payload;
}

/** Sets a value at a dotted path ("pull_request.head.sha"); every step but the last must exist. */
export function setField(payload: Payload, path: string, value: unknown): void {
  const keys = path.split('.');
  let target: Record<string, unknown> = payload;
  for (const key of keys.slice(0, -1)) {
    const next = target[key];
    assert.ok(next !== null && typeof next === 'object', `the payload has ${path}`);
    target = next as Record<string, unknown>;
  }
  const last = keys.at(-1)!;
  assert.ok(last in target, `the payload has ${path}`);
  target[last] = value;
}

/** Every occurrence of each string (a sha, a repository name) replaced, wherever the payload has it. */
export function replaceEverywhere(payload: Payload, replacements: Record<string, string>): Payload {
  let text = JSON.stringify(payload);
  for (const [from, to] of Object.entries(replacements)) text = text.replaceAll(from, to);
  return JSON.parse(text) as Payload;
}

export function githubSignature(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function giteaSignature(body: Buffer, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export interface Signed {
  headers: Record<string, string>;
  body: Buffer;
}

/** A GitHub delivery as GitHub sends it; `secret: null` leaves the signature out. */
export function githubDelivery(event: string, payload: Payload | Buffer, secret: string | null, deliveryId: string = randomUUID()): Signed {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/0e1b2d3',
      'x-github-event': event,
      'x-github-delivery': deliveryId,
      'x-github-hook-id': '292430182',
      ...(secret === null ? {} : { 'x-hub-signature-256': githubSignature(body, secret) }),
    },
  };
}

export function gitlabDelivery(hook: string, payload: Payload, token: string): Signed {
  return {
    body: Buffer.from(JSON.stringify(payload)),
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitLab/17.6.0',
      'x-gitlab-event': hook,
      'x-gitlab-token': token,
      'x-gitlab-instance': 'http://example.com',
      'x-gitlab-webhook-uuid': randomUUID(),
      'x-gitlab-event-uuid': randomUUID(),
      'idempotency-key': randomUUID(),
    },
  };
}

export function giteaDelivery(event: string, payload: Payload, secret: string): Signed {
  const body = Buffer.from(JSON.stringify(payload));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Go-http-client/1.1',
      'x-gitea-event': event,
      'x-gitea-event-type': event,
      'x-gitea-delivery': randomUUID(),
      'x-gitea-signature': giteaSignature(body, secret),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Repositories

export interface TestRepository {
  bare: string;
  work: string;
  /** Writes (or, for null, deletes) files, commits everything, and answers the new commit's sha. */
  commit(files: Record<string, string | null>, message: string): Promise<string>;
  /** Pushes refspecs to the bare repository. */
  push(...refspecs: string[]): Promise<void>;
  sha(ref: string): Promise<string>;
}

/** A bare repository at `bare` (its folders made) and a work tree beside it, on `branch`. */
export async function createRepository(bare: string, work: string, branch = 'main'): Promise<TestRepository> {
  mkdirSync(dirname(bare), { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch', branch, bare]);
  await git(['init', '--quiet', '--initial-branch', branch, work]);
  await git(['remote', 'add', 'origin', bare], work);
  return {
    bare,
    work,
    async commit(files, message) {
      for (const [path, content] of Object.entries(files)) {
        const file = join(work, path);
        if (content === null) rmSync(file, { force: true });
        else {
          mkdirSync(dirname(file), { recursive: true });
          writeFileSync(file, content);
        }
      }
      await git(['add', '--all'], work);
      await git(['commit', '--quiet', '--allow-empty', '-m', message], work);
      return git(['rev-parse', 'HEAD'], work);
    },
    async push(...refspecs) {
      await git(['push', '--quiet', 'origin', ...refspecs], work);
    },
    sha: (ref) => git(['rev-parse', ref], work),
  };
}

/**
 * Makes git clone `local` (a folder of bare repositories) whenever it is asked for a URL under
 * `remote`, for every git this process and its children run. Answers a function that restores
 * the environment as it was.
 */
export function rewriteGitUrls(rewrites: Record<string, string>): () => void {
  const names = ['GIT_CONFIG_COUNT', ...Object.keys(rewrites).flatMap((_, index) => [`GIT_CONFIG_KEY_${index}`, `GIT_CONFIG_VALUE_${index}`])];
  const saved = new Map(names.map((name) => [name, process.env[name]]));
  assert.equal(process.env.GIT_CONFIG_COUNT, undefined, 'no GIT_CONFIG_COUNT is set already');
  Object.entries(rewrites).forEach(([remote, local], index) => {
    process.env[`GIT_CONFIG_KEY_${index}`] = `url.${pathToFileURL(local).href.replace(/\/?$/, '/')}.insteadOf`;
    process.env[`GIT_CONFIG_VALUE_${index}`] = remote;
  });
  process.env.GIT_CONFIG_COUNT = String(Object.keys(rewrites).length);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// The server

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** What the server said (start-up notices, failures), for assertion messages. */
  log: string[];
  /** Cancels every unfinished run, then stops the server. Safe to call twice. */
  close(): Promise<void>;
}

/** Headers that let a request through the API of a server started here: the token its first start saved for the CLI. */
export function apiHeaders(base: string): Record<string, string> {
  const token = savedTokenFor(base);
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export async function startTestServer(options: { root: string; config: string; maxWebhookBytes?: number }): Promise<TestServer> {
  const configFile = join(options.root, 'slipway.yml');
  const dataDir = join(options.root, 'data');
  writeFileSync(configFile, options.config);
  const log: string[] = [];
  const server = await startServer({
    configFile,
    dataDir,
    port: 0,
    processExecutor: true,
    maxWebhookBytes: options.maxWebhookBytes,
    // Where the CLI commands of this test file look (support/cli.ts), never the user's own file.
    credentialsFile: credentialsPath({ XDG_CONFIG_HOME: CONFIG_HOME }),
    say: (message) => log.push(message),
  });
  let closed: Promise<void> | null = null;
  return {
    url: server.url,
    dataDir,
    server,
    log,
    close() {
      closed ??= (async () => {
        const unfinished = (await getJson<RunSummary[]>(server.url, '/api/runs?limit=1000')).filter((run) => run.status === 'pending' || run.status === 'running');
        for (const run of unfinished) await fetch(`${server.url}/api/runs/${run.id}/cancel`, { method: 'POST', headers: apiHeaders(server.url) });
        await server.close();
      })();
      return closed;
    },
  };
}

export async function getJson<T>(base: string, path: string): Promise<T> {
  const response = await fetch(`${base}${path}`, { headers: apiHeaders(base) }).catch((error: Error) => {
    throw new Error(`GET ${path}: ${error.message} (${String((error.cause as Error | undefined)?.message ?? error.cause)})`);
  });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${path}: ${text}`);
  return JSON.parse(text) as T;
}

export interface Answer {
  status: number;
  contentType: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a delivery to /hooks/<forge> and reads the JSON answer. */
export async function deliver(base: string, forge: string, delivery: Signed): Promise<Answer> {
  // fetch says only "fetch failed": the cause (a reset, a timeout, the other side closing) is the evidence.
  const response = await fetch(`${base}/hooks/${forge}`, { method: 'POST', headers: delivery.headers, body: new Uint8Array(delivery.body) }).catch((error: Error) => {
    const cause = error.cause as (Error & { code?: string }) | undefined;
    throw new Error(`POST /hooks/${forge}: ${error.message} (${cause ? `${cause.code ?? cause.name}: ${cause.message}` : 'no cause given'})`, { cause });
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`/hooks/${forge} answered ${response.status} with a body that is not JSON: ${text}`);
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', headers: response.headers, body };
}

/** An error answer: the status, and a JSON body {error: {code, message}} with a real sentence. */
export function assertError(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.contentType, /^application\/json/);
  const error = answer.body.error as { code?: unknown; message?: unknown } | undefined;
  assert.ok(error, `an error body: ${JSON.stringify(answer.body)}`);
  assert.equal(error.code, code, JSON.stringify(answer.body));
  assert.equal(typeof error.message, 'string');
  assert.ok((error.message as string).length > 10, `a message that says what was wrong: ${JSON.stringify(answer.body)}`);
}

/** A delivery as GET /api/deliveries lists it: the raw body and headers stay on the server. */
export type ListedDelivery = Omit<Delivery, 'body' | 'headers' | 'parsed'>;

export const deliveries = (base: string) => getJson<ListedDelivery[]>(base, '/api/deliveries?limit=1000');
export const runs = (base: string, service?: string) =>
  getJson<RunSummary[]>(base, `/api/runs?limit=1000${service ? `&service=${encodeURIComponent(service)}` : ''}`);
export const runDetail = (base: string, id: number) => getJson<RunDetail>(base, `/api/runs/${id}`);

/** Polls `probe` until it answers something other than undefined, null or false. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    last = value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until the inbox has handled a delivery, and answers it with its outcome. */
export function processed(base: string, id: number, timeoutMs?: number): Promise<ListedDelivery> {
  return waitFor(
    `delivery ${id} to be handled`,
    async () => (await deliveries(base)).find((delivery) => delivery.id === id && delivery.status !== 'received'),
    timeoutMs,
  );
}

/** The ids of the runs a delivery's outcome names ("... started run #4 of payment and run #5 of api"). */
export function runsNamedBy(outcome: string | null): Array<{ id: number; service: string }> {
  return [...(outcome ?? '').matchAll(/run #(\d+) of ([a-z0-9][a-z0-9_-]*)/g)].map((match) => ({ id: Number(match[1]), service: match[2]! }));
}

/** Waits until the run has finished (any way) and answers it with its stages. */
export function finished(base: string, id: number, timeoutMs?: number): Promise<RunDetail> {
  return waitFor(
    `run ${id} to finish`,
    async () => {
      const run = await runDetail(base, id);
      return run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled' ? run : null;
    },
    timeoutMs,
  );
}

export const stageStatuses = (run: RunDetail) => Object.fromEntries(run.stages.map((stage) => [stage.name, stage.status]));

/**
 * Reads the server's SQLite database, read-only, for what the API does not show (the
 * `trigger.skipped` events of the audit log, a polled branch's cursor).
 */
export function queryDatabase<T>(dataDir: string, sql: string, ...parameters: unknown[]): T[] {
  const db = new Database(join(dataDir, 'slipway.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...parameters) as T[];
  } finally {
    db.close();
  }
}
