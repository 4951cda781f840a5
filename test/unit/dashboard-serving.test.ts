// The dashboard's files as the server hands them out (server/dashboard.ts): the page for every
// path the API leaves free, under a strict content security policy; hashed assets cached for
// good and compressed; the API's own 404 for an unknown API path; no way out of the folder.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Hono } from 'hono';
import { mountDashboard } from '../../src/server/dashboard.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-dashboard-files-'));
/** A file beside the folder, in the same temporary parent: what a path must never reach. */
const outside = `${dir}-outside.txt`;
const outsideName = outside.split('/').pop()!;
let app: Hono;

before(() => {
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dir, 'assets', 'index-abc123.js'), `console.log(${JSON.stringify('x'.repeat(4000))});`);
  writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
  writeFileSync(outside, 'outside');
  app = new Hono();
  app.get('/api/info', (c) => c.json({ ok: true }));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  mountDashboard(app, dir);
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: 'no route' } }, 404));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { force: true });
});

describe('the dashboard files', () => {
  it('answers the page for the dashboard\'s own paths, with a strict content security policy and no caching', async () => {
    for (const path of ['/', '/runs/12', '/services/payment', '/settings']) {
      const response = await app.request(path);
      assert.equal(response.status, 200, path);
      assert.match(await response.text(), /<div id="root">/);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      const policy = response.headers.get('content-security-policy') ?? '';
      assert.match(policy, /script-src 'self'(;|$)/, 'no inline or foreign scripts');
      assert.match(policy, /frame-ancestors 'none'/);
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    }
  });

  it('caches hashed assets for good and compresses them', async () => {
    const response = await app.request('/assets/index-abc123.js', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('cache-control') ?? '', /immutable/);
    assert.equal(response.headers.get('content-encoding'), 'gzip');
    assert.match(response.headers.get('content-type') ?? '', /javascript/);
  });

  it('leaves the API its own answers and its own 404', async () => {
    assert.deepEqual(await (await app.request('/api/info')).json(), { ok: true });
    const missing = await app.request('/api/no-such-route');
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    assert.equal((await app.request('/healthz')).status, 200);
  });

  it('never serves a file outside its folder', async () => {
    for (const path of [`/assets/../../${outsideName}`, `/assets/%2e%2e/%2e%2e/${outsideName}`, `/assets/..%2f..%2f${outsideName}`, `/%2e%2e/${outsideName}`]) {
      const response = await app.request(path);
      assert.doesNotMatch(await response.text(), /outside/, path);
    }
  });

  it('says how to build it when it is not built', async () => {
    const bare = new Hono();
    mountDashboard(bare, join(dir, 'missing'));
    const response = await bare.request('/');
    assert.equal(response.status, 503);
    assert.match(await response.text(), /npm install/);
  });
});
