// The CLI's node:http transport for the API client: the same answers, refusals and unreachable
// errors as the client's fetch, against a real HTTP server.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nodeHttpTransport } from '../../src/cli/transport.ts';
import { ApiError, SlipwayClient } from '../../src/client/client.ts';

describe('the CLI transport (node:http)', () => {
  const seen: Array<{ method: string; url: string; authorization: string | undefined; body: string }> = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, authorization: request.headers.authorization, body });
      response.setHeader('content-type', 'application/json');
      if (request.url === '/api/runs/7') {
        response.statusCode = 404;
        return response.end(JSON.stringify({ error: { code: 'RUN_NOT_FOUND', message: 'run 7 does not exist' } }));
      }
      response.statusCode = request.method === 'POST' ? 201 : 200;
      response.end(JSON.stringify({ ok: true, echoed: body ? JSON.parse(body) : null }));
    });
  });
  let base: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the method, token, query and JSON body, and reads the JSON answer', async () => {
    const client = new SlipwayClient(base, 'slw_token', nodeHttpTransport);
    assert.deepEqual(await client.startRun({ service: 'api', ref: 'main' }), { ok: true, echoed: { service: 'api', ref: 'main' } });
    await client.runs({ service: 'api', limit: 5 });
    assert.deepEqual(seen.slice(-2).map(({ method, url, authorization }) => [method, url, authorization]), [
      ['POST', '/api/runs', 'Bearer slw_token'],
      ['GET', '/api/runs?service=api&limit=5', 'Bearer slw_token'],
    ]);
  });

  it("turns the server's refusal into an ApiError with its code and status", async () => {
    const client = new SlipwayClient(base, 'slw_token', nodeHttpTransport);
    await assert.rejects(client.run(7), (error: unknown) => error instanceof ApiError && error.code === 'RUN_NOT_FOUND' && error.status === 404 && error.message === 'run 7 does not exist');
  });

  it('says which server it cannot reach, and why', async () => {
    const client = new SlipwayClient('http://127.0.0.1:9', 'slw_token', nodeHttpTransport);
    await assert.rejects(client.runs(), (error: unknown) => error instanceof ApiError && error.code === 'UNREACHABLE' && /cannot reach the Slipway server at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/.test(error.message));
  });
});
