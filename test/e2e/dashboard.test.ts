// The dashboard in a real browser (Debian's chromium through Playwright) against a real server:
// sign in, watch a run go from queued to succeeded with its log growing live, approve a
// production deployment as a second user after the first is refused approving their own, roll
// back from the service page, see the fleet matrix change without a reload, and open the metrics
// page over a history made through the API. Each page is saved as a screenshot in
// test-results/dashboard/ (the README shows the fleet's).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiError, type SlipwayClient } from '../../src/client/client.ts';
import { launchBrowser, type LaunchedBrowser } from '../support/browser.ts';
import { startDashboardServer, type DashboardServer } from '../support/dashboard-server.ts';

const SCREENSHOTS = 'test-results/dashboard';
const FIRST = 'a'.repeat(40);
const SECOND = 'b'.repeat(40);
const LEDGER = 'c'.repeat(40);

// The test stage writes a line every 150 ms, a coloured one and one on stderr: enough time to
// see the log grow while the run is on screen.
const CONFIG = [
  'registry: 127.0.0.1:5000',
  'pipeline:',
  '  - stage: test',
  '    run: |',
  '      for i in $(seq 1 24); do echo "test $i passed"; sleep 0.15; done',
  "      printf '\\033[32mall green\\033[0m\\n'",
  "      echo 'a warning' >&2",
  '  - stage: build',
  '  - stage: staging',
  '    environment: staging',
  '  - stage: production',
  '    environment: production',
  'environments:',
  '  staging: {}',
  '  production:',
  '    approval:',
  '      rules:',
  '        - roles: [deployer]',
  'services:',
  '  payment:',
  '    repo: /repos/payment.git',
  '    port: 8080',
  '  ledger:',
  '    repo: /repos/ledger.git',
  '    port: 8081',
  '',
].join('\n');

let server: DashboardServer;
let launched: LaunchedBrowser;
let browser: Browser;
let dora: { client: SlipwayClient; password: string };
const contexts: BrowserContext[] = [];

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  server = await startDashboardServer(CONFIG, { maxParallelRuns: 1 });
  server.source.setRef('/repos/payment.git', 'main', FIRST).setCommit('/repos/payment.git', FIRST, { message: 'Take card payments', author: { name: 'Ada', email: 'ada@example.com' } });
  server.source.setRef('/repos/ledger.git', 'main', LEDGER).setCommit('/repos/ledger.git', LEDGER, { message: 'Ledger entries for refunds' });
  dora = await server.addUser('dora', 'deployer');
  launched = await launchBrowser();
  browser = launched.browser;
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await launched?.close();
  await server?.close();
});

/** A browser context of its own (its own storage: its own signed-in user), signed in as `user`. */
async function signedIn(user: string, password: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (error) => assert.fail(`the page threw: ${error.message}`));
  await page.goto(server.url);
  // By keyboard alone: the user field has the focus, Tab reaches the password, Enter signs in.
  await page.getByLabel('User').waitFor();
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });

async function runUntil(id: number, status: string): Promise<void> {
  for (let tries = 0; tries < 600; tries++) {
    if ((await server.admin.run(id)).status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`run ${id} never became ${status}`);
}

describe('the dashboard in a real browser', () => {
  let admin: Page;
  let runId: number;

  it('refuses a wrong password and signs in with the right one', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('wrong user name or password').waitFor();
    await shot(page, 'login');

    admin = await signedIn('admin', server.adminPassword);
    await admin.getByText('live', { exact: true }).waitFor();
    const rows = admin.locator('[data-testid=fleet] tbody tr');
    assert.deepEqual(await rows.locator('th').allInnerTexts(), ['ledger', 'payment']);
    await shot(admin, 'fleet-empty');
  });

  it('shows a run go from queued to running to waiting, its log growing live', async () => {
    // One run at a time: ledger's run holds payment's in the queue for a while.
    const ledger = await server.admin.startRun({ service: 'ledger' });
    await admin.goto(`${server.url}/services/payment`);
    await admin.getByRole('button', { name: 'Run main' }).click();
    await admin.waitForURL(/\/runs\/\d+$/);
    runId = Number(/\/runs\/(\d+)$/.exec(admin.url())![1]);
    const status = admin.locator('#run-title .status');
    await status.getByText('queued').waitFor();

    await status.getByText('running').waitFor({ timeout: 30_000 });
    await admin.getByRole('button', { name: /^test/ }).click();
    const count = admin.locator('.log-count');
    await admin.waitForFunction(() => /^([1-9]|1\d) lines/.test(document.querySelector('.log-count')?.textContent ?? ''), undefined, { timeout: 30_000 });
    const early = Number.parseInt(await count.innerText(), 10);
    await admin.waitForFunction((seen) => Number.parseInt(document.querySelector('.log-count')?.textContent ?? '0', 10) > seen + 3, early, { timeout: 30_000 });
    await shot(admin, 'run-live');

    await status.getByText('waiting').waitFor({ timeout: 60_000 });
    // The finished stage's log, whole: the coloured line in colour, stderr set apart.
    const green = admin.locator('.log-line', { hasText: 'all green' }).locator('span[style*="color"]');
    await green.first().waitFor();
    assert.match((await green.first().getAttribute('style')) ?? '', /color: rgb\(/);
    await admin.locator('.log-line.stream-stderr', { hasText: 'a warning' }).waitFor();
    await runUntil(ledger.id, 'waiting');
  });

  it('searches the log and links to a line', async () => {
    await admin.getByLabel('Search the log').fill('test 17 passed');
    await admin.getByText('1 of 1').waitFor();
    const line = admin.locator('.log-line.matched');
    const seq = await line.getAttribute('data-seq');
    await admin.getByLabel('Search the log').fill('');
    await admin.goto(`${admin.url().split('#')[0]}#L${seq}`);
    await admin.locator(`.log-line.selected[data-seq="${seq}"]`).waitFor();
  });

  it('refuses the run author approving their own run, and lets a second user approve it', async () => {
    await admin.getByRole('link', { name: 'Fleet' }).click();
    await admin.goto(`${server.url}/runs/${runId}`);
    const panel = admin.locator('section.approval');
    await panel.getByText('You may not approve').waitFor();
    assert.equal(await panel.getByRole('button', { name: 'Approve' }).isDisabled(), true, 'approving is not offered to the run author');
    await assert.rejects(server.admin.approve(runId), (error: unknown) => error instanceof ApiError && error.status === 403, 'the server refuses it too');
    await shot(admin, 'run-approval');

    // The admin watches the fleet while dora approves in her own browser.
    await admin.goto(server.url);
    const production = admin.locator('tr[data-service=payment] td[data-environment=production]');
    await production.getByText('waits: approval').waitFor();

    const doraPage = await signedIn('dora', dora.password);
    assert.equal(await doraPage.getByRole('link', { name: 'Settings' }).count(), 0, 'settings are for admins');
    await doraPage.goto(`${server.url}/runs/${runId}`);
    await doraPage.getByLabel(/Comment/).fill('looks good');
    await doraPage.getByRole('button', { name: 'Approve' }).click();
    await doraPage.locator('#run-title .status').getByText('succeeded').waitFor({ timeout: 30_000 });

    // The fleet matrix changed under the admin's eyes, without a reload.
    await production.getByText('Take card payments').waitFor({ timeout: 15_000 });
    assert.equal(await production.getByText('waits: approval').count(), 0);
    await shot(admin, 'fleet');
  });

  it('rolls back from the service page after a second release, naming what changes', async () => {
    server.source.setRef('/repos/payment.git', 'main', SECOND).setCommit('/repos/payment.git', SECOND, { message: 'Retry declined cards' });
    const second = await server.admin.startRun({ service: 'payment' });
    await runUntil(second.id, 'waiting');
    await dora.client.approve(second.id);
    await runUntil(second.id, 'succeeded');

    await admin.goto(`${server.url}/services/payment`);
    const card = admin.locator('article[data-environment=production]');
    await card.getByRole('button', { name: 'Roll back' }).click();
    const dialog = admin.getByRole('dialog');
    await dialog.getByText(/production goes from release #\d+ \(bbbbbbbb\) back to release #\d+ \(aaaaaaaa\)/).waitFor();
    await shot(admin, 'service-rollback');
    await dialog.getByLabel(/Why/).fill('declines went up');
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await card.getByText(/\(rollback\)/).waitFor({ timeout: 30_000 });
    await card.locator('code', { hasText: 'aaaaaaaa' }).waitFor();
    await shot(admin, 'service');
  });

  it('opens the metrics page over the history made through the API', async () => {
    const ledger = (await server.admin.runs({ service: 'ledger', limit: 1 }))[0]!;
    await dora.client.approve(ledger.id);
    await runUntil(ledger.id, 'succeeded');
    await admin.goto(`${server.url}/metrics`);
    await admin.getByRole('heading', { name: 'Metrics' }).waitFor();
    await admin.locator('.recharts-surface').first().waitFor({ timeout: 15_000 });
    await shot(admin, 'metrics');
  });

  it('keeps the activity, runs and settings pages readable, and the fleet usable at 390 pixels', async () => {
    await admin.goto(`${server.url}/activity`);
    await admin.getByRole('heading', { name: 'Activity' }).waitFor();
    await admin.waitForTimeout(500);
    await shot(admin, 'activity');
    await admin.goto(`${server.url}/runs`);
    await admin.locator('[data-testid=runs] tbody tr').first().waitFor();
    await shot(admin, 'runs');
    await admin.goto(`${server.url}/settings`);
    await admin.getByRole('rowheader', { name: /dora/ }).first().waitFor();
    await admin.getByRole('heading', { name: 'Notification channels' }).waitFor();
    await shot(admin, 'settings');

    const phone = await signedIn('admin', server.adminPassword, { width: 390, height: 844 });
    await phone.locator('[data-testid=fleet]').waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen: only tables scroll sideways`);
    await phone.getByRole('button', { name: 'Menu' }).click();
    await phone.getByRole('link', { name: 'Runs' }).click();
    await phone.locator('[data-testid=runs]').waitFor();
    await shot(phone, 'runs-390');
  });
});
