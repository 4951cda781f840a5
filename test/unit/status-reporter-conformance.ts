// The StatusReporter contract (src/forges/forge.ts), checked against a local HTTP server that
// answers the way the forge does. Every forge's reporter runs this suite; its test file supplies
// the request the forge documents (path, headers, body, states) and the forge's answers.

import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import type { CommitState, CommitStatus, ForgeName, StatusReporter, StatusReporterSettings } from '../../src/forges/forge.ts';

export interface RecordedRequest {
  method: string;
  /** As sent, still percent-encoded. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the fake forge answers one request; 'hang' never answers. */
export type Answer = { status: number; body: unknown; contentType?: string } | 'hang';

export interface FakeForge {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFakeForge(answer: (request: RecordedRequest) => Answer): Promise<FakeForge> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const reply = answer(request);
      if (reply === 'hang') return;
      const contentType = reply.contentType ?? 'application/json; charset=utf-8';
      res.writeHead(reply.status, { 'content-type': contentType });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: one just given up by a server. */
export async function closedPort(): Promise<number> {
  const forge = await startFakeForge(() => 'hang');
  const port = Number(new URL(forge.origin).port);
  await forge.close();
  return port;
}

export interface StatusReporterExpectations {
  forge: ForgeName;
  create(settings: StatusReporterSettings | null): StatusReporter | null;
  /** Where the API lives below the host, e.g. /api/v4 ('' for api.github.com). */
  apiPath: string;
  /** A repository as this forge names it. */
  repository: string;
  /** The documented request path for `repository` and `sha`, below apiPath, percent-encoded as sent. */
  path(sha: string): string;
  /** The headers the forge documents for this call; a value is exact or a pattern. */
  headers(token: string): Record<string, string | RegExp>;
  /** The forge's state for each of Slipway's. */
  states: Record<CommitState, string>;
  /** The documented JSON body for `status`, whose state the forge calls `state`. */
  body(status: CommitStatus, state: string): Record<string, unknown>;
  /** What the forge answers (201) when it accepts the status in `request`. */
  accepted(request: Record<string, unknown>): unknown;
  /** The forge's error body carrying `message`. */
  error(message: string): unknown;
}

const TOKEN = 'conformance-token-7c1d';
const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';
const COMMIT_STATES: CommitState[] = ['pending', 'running', 'success', 'failure', 'error', 'cancelled'];
const PROMPTLY_MS = 2_000;

export function statusReporterConformance(name: string, expected: StatusReporterExpectations): void {
  describe(`StatusReporter conformance: ${name}`, () => {
    const started: FakeForge[] = [];
    afterEach(async () => {
      await Promise.all(started.splice(0).map((forge) => forge.close()));
    });

    async function forgeAnswering(answer: (request: RecordedRequest) => Answer): Promise<FakeForge> {
      const forge = await startFakeForge(answer);
      started.push(forge);
      return forge;
    }

    const accepting = () => forgeAnswering((request) => ({ status: 201, body: expected.accepted(JSON.parse(request.body)) }));

    function reporterFor(origin: string, apiUrlSuffix = ''): StatusReporter {
      const reporter = expected.create({ apiUrl: `${origin}${expected.apiPath}${apiUrlSuffix}`, token: TOKEN });
      assert.ok(reporter, 'settings give a reporter');
      return reporter;
    }

    function statusOf(state: CommitState, overrides: Partial<CommitStatus> = {}): CommitStatus {
      return {
        repository: expected.repository,
        sha: SHA,
        state,
        context: 'slipway/payment',
        description: `Run #12 is ${state}`,
        targetUrl: 'https://ci.example.com/runs/12',
        ...overrides,
      };
    }

    function assertDocumentedRequest(request: RecordedRequest | undefined, status: CommitStatus): void {
      assert.ok(request, 'the forge got a request');
      assert.equal(request.method, 'POST');
      assert.equal(request.url, `${expected.apiPath}${expected.path(status.sha)}`);
      for (const [header, value] of Object.entries(expected.headers(TOKEN))) {
        if (typeof value === 'string') assert.equal(request.headers[header], value, `header ${header}`);
        else assert.match(String(request.headers[header]), value, `header ${header}`);
      }
      assert.match(String(request.headers['content-type']), /^application\/json\b/);
      assert.deepEqual(JSON.parse(request.body), expected.body(status, expected.states[status.state]));
    }

    async function rejectsPromptly(report: Promise<void>, message: RegExp): Promise<Error> {
      const startedAt = performance.now();
      let failure: unknown;
      await assert.rejects(report, (error) => {
        failure = error;
        return true;
      });
      assert.ok(performance.now() - startedAt < PROMPTLY_MS, 'rejects promptly');
      assert.ok(failure instanceof Error, 'rejects with an Error');
      assert.match(failure.message, message);
      assert.ok(!failure.message.includes(TOKEN), `the message does not carry the token: ${failure.message}`);
      return failure;
    }

    test('no settings, no reporter', () => {
      assert.equal(expected.create(null), null);
    });

    test('names its forge', () => {
      assert.equal(expected.create({ apiUrl: 'http://127.0.0.1:1', token: TOKEN })?.forge, expected.forge);
    });

    for (const state of COMMIT_STATES) {
      test(`reports ${state} as the forge's ${expected.states[state]}, in one documented request`, async () => {
        const forge = await accepting();
        const status = statusOf(state);
        await reporterFor(forge.origin).report(status);
        assert.equal(forge.requests.length, 1);
        assertDocumentedRequest(forge.requests[0], status);
      });
    }

    test('an API URL written with a trailing slash reaches the same path', async () => {
      const forge = await accepting();
      const status = statusOf('success');
      await reporterFor(forge.origin, '/').report(status);
      assertDocumentedRequest(forge.requests[0], status);
    });

    test('cuts a long description to 140 characters, from its start', async () => {
      const forge = await accepting();
      const long = `Run #12 failed at stage ${'integration-'.repeat(30)}`;
      await reporterFor(forge.origin).report(statusOf('failure', { description: long }));
      const sent = (JSON.parse(forge.requests[0]!.body) as { description: string }).description;
      assert.ok([...sent].length <= 140, `${[...sent].length} characters sent`);
      assert.ok(sent.length >= 100, 'keeps as much as fits');
      assert.ok(long.startsWith(sent.replace(/…$/, '')));

      const fits = 'x'.repeat(140);
      await reporterFor(forge.origin).report(statusOf('failure', { description: fits }));
      assert.equal((JSON.parse(forge.requests[1]!.body) as { description: string }).description, fits);
    });

    test('a forge failing with 500 is asked once, and the rejection names the status and its message', async () => {
      const forge = await forgeAnswering(() => ({ status: 500, body: expected.error('database is locked') }));
      await rejectsPromptly(reporterFor(forge.origin).report(statusOf('success')), /500.*database is locked/);
      assert.equal(forge.requests.length, 1, 'no retries of its own');
    });

    test('a refused token: the rejection names 401 and never the token, even when the forge echoes it', async () => {
      const forge = await forgeAnswering(() => ({ status: 401, body: expected.error(`Bad credentials (${TOKEN})`) }));
      await rejectsPromptly(reporterFor(forge.origin).report(statusOf('success')), /401.*Bad credentials/);
    });

    test('a proxy answering 502 with an HTML page: the rejection names 502', async () => {
      const forge = await forgeAnswering(() => ({ status: 502, body: '<html><body>Bad Gateway</body></html>', contentType: 'text/html' }));
      await rejectsPromptly(reporterFor(forge.origin).report(statusOf('success')), /502/);
    });

    test('a forge that is down: rejects promptly, naming the network error', async () => {
      const reporter = reporterFor(`http://127.0.0.1:${await closedPort()}`);
      await rejectsPromptly(reporter.report(statusOf('pending')), /ECONNREFUSED/);
    });

    test('an already aborted signal: rejects without waiting for the forge', async () => {
      const forge = await forgeAnswering(() => 'hang');
      await rejectsPromptly(reporterFor(forge.origin).report(statusOf('pending'), AbortSignal.abort()), /abort/i);
    });

    test('a forge that never answers: rejects as soon as the signal aborts', async () => {
      const controller = new AbortController();
      const forge = await forgeAnswering(() => {
        controller.abort();
        return 'hang';
      });
      await rejectsPromptly(reporterFor(forge.origin).report(statusOf('pending'), controller.signal), /abort/i);
      assert.equal(forge.requests.length, 1);
    });
  });
}
