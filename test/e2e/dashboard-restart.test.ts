// The dashboard's live stream across a restart of the real server (`slipway up` as a child
// process, killed and started again on the same port and data folder): the page says it is
// reconnecting, comes back live by itself, and shows what happened after the restart without
// being reloaded.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { FIRST_ADMIN_PASSWORD_FILE } from '../../src/server/main.ts';
import { launchBrowser, type LaunchedBrowser } from '../support/browser.ts';
import { startServerProcess, type ServerProcess } from '../support/cli.ts';
import { startLocalServer, type LocalServer } from '../support/server.ts';

let server: LocalServer;
let restarted: ServerProcess | null = null;
let launched: LaunchedBrowser;

before(async () => {
  server = await startLocalServer(['  - stage: test', '    run: echo testing']);
  launched = await launchBrowser();
});

after(async () => {
  await launched?.close();
  await restarted?.kill();
  await server?.close();
});

it('resumes the live stream after the server restarts, without a reload', async () => {
  const page = await launched.browser.newPage();
  await page.goto(server.url);
  await page.getByLabel('User').fill('admin');
  await page.getByLabel('Password').fill(readFileSync(join(server.root, 'data', FIRST_ADMIN_PASSWORD_FILE), 'utf8').trim());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.getByText('live', { exact: true }).waitFor();
  // A mark a reload would wipe.
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

  const port = new URL(server.url).port;
  await server.process.kill();
  await page.getByText('reconnecting…').waitFor({ timeout: 30_000 });
  restarted = await startServerProcess(['--config', join(server.root, 'slipway.yml'), '--data', join(server.root, 'data'), '--process', '--port', port]);
  await page.getByText('live', { exact: true }).waitFor({ timeout: 60_000 });

  const started = await server.request('POST', '/api/runs', { body: { service: 'api' } });
  assert.equal(started.status, 201, started.text);
  await page.locator('[data-testid=runs] tbody tr a', { hasText: `#${started.body.id}` }).waitFor({ timeout: 30_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, 'the page was not reloaded');
});
