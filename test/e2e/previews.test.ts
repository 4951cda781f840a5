// Pull requests' previews end to end: a server process with Podman, the registry, HAProxy and
// git, driven by GitHub's own pull_request payloads, signed. Opening the pull request builds
// payment's head and starts it beside notification (at the release serving in staging) in a
// preview of their own, where payment calls notification by name; the preview answers through
// the proxy at its own host name. A new commit replaces it at the same address while a client
// keeps calling it (no request fails); a server restart keeps it serving; closing the pull
// request removes it and everything it held.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SlipwayClient } from '../../src/client/client.ts';
import type { RunDetail } from '../../src/client/api.ts';
import type { Preview } from '../../src/core/previews.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { ensureNodeImage, NODE_IMAGE } from '../../src/images/base.ts';
import { ownerOf } from '../../src/server/main.ts';
import { slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';
import { removeBuiltImages, requireBusybox, requireRegistry } from '../support/engine.ts';
import { removeImages, removeOwned } from '../support/fleet.ts';
import { notificationFiles } from '../support/integration-apps.ts';
import { proxyYaml, stopProxy, testProxy, type TestProxy } from '../support/proxy.ts';
import { runEnded, until } from '../support/wait.ts';
import { createRepository, deliver, githubDelivery, githubExample, rewriteGitUrls, setField, type Payload, type TestRepository } from '../support/webhooks.ts';

const SECRET = 'preview-secret-of-hello-world';
const root = mkdtempSync(join(tmpdir(), 'slipway-previews-'));
const repos = join(root, 'repos');
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
let engine: ContainerEngine;
let proxy: TestProxy;
let server: ServerProcess;
let client: SlipwayClient;
let payment: TestRepository;
let notification: TestRepository;
let restoreEnv: () => void = () => {};

/** payment answers its version, and on /notify calls notification by name. */
function paymentApp(version: string): Record<string, string> {
  const app = String.raw`
const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/') return res.end('payment VERSION');
  if (req.url === '/notify') {
    http.get('http://notification:3000/healthz', (answer) => {
      answer.resume();
      res.end('notification answered ' + answer.statusCode);
    }).on('error', (error) => {
      res.statusCode = 502;
      res.end(error.message);
    });
    return;
  }
  res.statusCode = 404;
  res.end();
}).listen(3000);
`.replace('VERSION', version);
  return { Dockerfile: `FROM ${NODE_IMAGE}\nCOPY app.js /app/app.js\nCMD ["node", "/app/app.js"]\n`, 'app.js': app };
}

async function up(): Promise<void> {
  server = await startServerProcess(['--config', configFile, '--data', dataDir]);
  client = new SlipwayClient(server.url, readFileSync(join(dataDir, 'cli-token'), 'utf8').trim());
}

const waitRun = (id: number, timeoutMs?: number): Promise<RunDetail> => runEnded(client, id, timeoutMs);

/** GitHub's own pull_request payload for #2 of Codertocat/Hello-World, at `head`. */
function pullRequest(action: 'opened' | 'synchronize' | 'closed', head: string, base: string): Payload {
  const payload = githubExample('pull_request', `a pull request ${action}`, (example) => example.action === action);
  setField(payload, 'pull_request.head.sha', head);
  setField(payload, 'pull_request.base.sha', base);
  if (action === 'synchronize') setField(payload, 'after', head);
  return payload;
}

/** Delivers it signed, and answers the run it started (none for a close). */
async function send(payload: Payload): Promise<{ outcome: string; runId: number | null }> {
  const answer = await deliver(server.url, 'github', githubDelivery('pull_request', payload, SECRET));
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const delivery = await until('the delivery to be processed', async () => {
    const found = await client.delivery(answer.body.delivery as number).catch(() => null);
    return found && found.status !== 'received' ? found : null;
  }, 60_000);
  assert.equal(delivery.status, 'processed', delivery.outcome ?? '');
  const started = /started run #(\d+)/.exec(delivery.outcome ?? '');
  return { outcome: delivery.outcome ?? '', runId: started ? Number(started[1]) : null };
}

/** GETs a path through the proxy's shared port by the URL's host name. */
function viaProxy(url: string, path: string): Promise<{ status: number; body: string }> {
  const { host } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port: proxy.port, path, headers: { host }, timeout: 10_000 }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: body.trim() }));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}${path} timed out`)));
    request.on('error', reject);
    request.end();
  });
}

/** The containers and networks of previews, by label. */
async function previewLeftovers(): Promise<string[]> {
  const owner = `slipway.owner=${ownerOf(dataDir)}`;
  const containers = await engine.docker.listContainers({ all: true, filters: { label: [owner, 'slipway.sandbox'] } });
  const networks = await engine.docker.listNetworks({ filters: { label: [owner, 'slipway.sandbox'] } });
  return [...containers.map((container) => `${container.Names[0]} (${container.Labels['slipway.sandbox']})`), ...networks.map((network) => network.Name)];
}

describe('previews end to end (Podman, registry, HAProxy, GitHub payloads)', { timeout: 1_200_000 }, () => {
  let base: string;
  let preview: Preview;

  before(async () => {
    ({ engine } = await requireBusybox());
    const registry = await requireRegistry();
    await ensureNodeImage(engine.docker);
    proxy = await testProxy();
    payment = await createRepository(join(repos, 'Codertocat', 'Hello-World.git'), join(root, 'work', 'payment'), 'master');
    notification = await createRepository(join(repos, 'local', 'notification.git'), join(root, 'work', 'notification'));
    base = await payment.commit(paymentApp('v1'), 'payment v1');
    await payment.push('master');
    await notification.commit(notificationFiles(), 'notification v1');
    await notification.push('main');
    restoreEnv = rewriteGitUrls({ 'https://github.com/': repos });
    writeFileSync(
      configFile,
      [
        `registry: ${registry}`,
        'pipeline:',
        '  - stage: build',
        '  - stage: preview',
        '    type: preview',
        '    ready_timeout: 2m',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging: { health_timeout: 60s, drain_timeout: 1s, bake: 0 }',
        'forges:',
        '  github:',
        '    repositories:',
        `      Codertocat/Hello-World: { secret: ${SECRET} }`,
        'services:',
        '  payment:',
        '    repo: https://github.com/Codertocat/Hello-World.git',
        '    branch: master',
        '    port: 3000',
        '    health: { path: /healthz, interval: 200ms }',
        '  notification:',
        `    repo: ${notification.bare}`,
        '    port: 3000',
        '    health: { path: /healthz, interval: 200ms }',
        ...proxyYaml(proxy),
        '',
      ].join('\n'),
    );
    await up();
  });

  after(async () => {
    const releases = client ? await Promise.all(['payment', 'notification'].map((service) => client.releases({ service, limit: 100 }).catch(() => []))) : [];
    await server?.kill();
    await stopProxy(dataDir);
    restoreEnv();
    if (engine) {
      await removeOwned(ownerOf(dataDir));
      await removeImages(new Set(releases.flat().map((release) => release.digest)));
      const heads = await Promise.all([payment, notification].filter(Boolean).map((repository) => repository.sha('HEAD')));
      await removeBuiltImages(heads);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('a push deploys to staging and makes no preview', async () => {
    const run = await waitRun((await client.startRun({ service: 'notification' })).id);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    const stage = run.stages.find((candidate) => candidate.name === 'preview')!;
    assert.equal(stage.status, 'skipped');
    assert.equal(stage.reason, 'only pull requests get a preview');
  });

  it("an opened pull request gets a preview: its head beside notification's staging release, answering through the proxy at its own name", async () => {
    const head = await payment.commit(paymentApp('v2 under review'), 'payment v2');
    await payment.push('HEAD:refs/heads/changes');
    const { runId } = await send(pullRequest('opened', head, base));
    assert.ok(runId, 'the pull request started a run');
    const run = await waitRun(runId);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    assert.equal(run.stages.find((stage) => stage.name === 'deploy')?.status, 'skipped', 'a pull request deploys nowhere');

    const [listed] = await client.previews();
    assert.ok(listed, 'one preview');
    preview = listed;
    assert.equal(preview.environment, 'pr2-payment');
    assert.equal(preview.status, 'ready');
    assert.equal(preview.commitSha, head);
    assert.equal(preview.url, `http://payment.pr2-payment.localhost:${proxy.port}`);
    const [staging] = await client.releases({ service: 'notification', limit: 1 });
    assert.deepEqual(
      preview.members.map((member) => [member.name, member.releaseId]),
      [
        ['payment', preview.releaseId],
        ['notification', staging!.id],
      ],
    );
    assert.deepEqual(await viaProxy(preview.url!, '/'), { status: 200, body: 'payment v2 under review' });
    assert.deepEqual(await viaProxy(preview.url!, '/notify'), { status: 200, body: 'notification answered 200' }, 'payment calls notification by name inside its preview');
    const notificationUrl = preview.members.find((member) => member.name === 'notification')!.url!;
    assert.equal((await viaProxy(notificationUrl, '/healthz')).body, 'ok');

    assert.equal((await client.run(runId)).preview?.url, preview.url, 'the run shows its preview');
    const listing = await slipway(['previews'], { server: server.url });
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, /payment #2\s+ready/);
    assert.ok(listing.stdout.includes(preview.url!), listing.stdout);
    const status = await slipway(['status'], { server: server.url });
    assert.match(status.stdout, new RegExp(`payment #2\\s+ready\\s+${head.slice(0, 8)}\\s+${preview.url!.replace(/\./g, '\\.')}`), status.stdout);
  });

  it('a new commit replaces the preview at the same address while a client keeps calling it: no request fails', async (t) => {
    const caller = { sent: 0, failed: [] as string[], stop: false };
    const calling = (async () => {
      while (!caller.stop) {
        caller.sent++;
        const answer = await viaProxy(preview.url!, '/').catch((error: Error) => ({ status: 0, body: error.message }));
        if (answer.status !== 200) caller.failed.push(`${answer.status} ${answer.body}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const head = await payment.commit(paymentApp('v3 after review'), 'payment v3');
    await payment.push('HEAD:refs/heads/changes');
    const { runId } = await send(pullRequest('synchronize', head, base));
    const run = await waitRun(runId!);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    await until('the client to hear v3', async () => (await viaProxy(preview.url!, '/')).body === 'payment v3 after review', 30_000);
    caller.stop = true;
    await calling;
    assert.ok(caller.sent > 50, `the client kept calling (${caller.sent} requests)`);
    assert.deepEqual(caller.failed, [], `${caller.failed.length} of ${caller.sent} requests failed`);
    t.diagnostic(`requests to the preview across the update: ${caller.sent} sent, ${caller.failed.length} failed`);

    const updated = await client.preview(preview.id);
    assert.equal(updated.generation, 2);
    assert.equal(updated.url, preview.url);
    assert.equal(updated.commitSha, head);
    assert.deepEqual(
      (await previewLeftovers()).filter((name) => name.includes(`(pv${preview.id}-1)`)),
      [],
      'the first generation is gone',
    );
    preview = updated;
  });

  it('keeps serving across a server restart', async () => {
    await server.kill();
    assert.equal((await viaProxy(preview.url!, '/')).body, 'payment v3 after review', 'the proxy and the preview outlive the server');
    await up();
    assert.equal((await client.preview(preview.id)).status, 'ready');
    // Its checks keep passing well after start-up: nothing the restart settled took its containers.
    await new Promise((resolveWait) => setTimeout(resolveWait, 2_000));
    assert.equal((await viaProxy(preview.url!, '/')).body, 'payment v3 after review', server.output());
  });

  it('closing the pull request removes the preview and all it held', async () => {
    const { outcome, runId } = await send(pullRequest('closed', preview.commitSha, base));
    assert.equal(runId, null);
    assert.match(outcome, /removed the preview pr2-payment/);
    const removed = await client.preview(preview.id);
    assert.equal(removed.status, 'removed');
    assert.equal(removed.url, null);
    assert.deepEqual(await client.previews(), []);
    assert.notEqual((await viaProxy(preview.url!, '/')).status, 200, 'its address no longer answers');
    assert.deepEqual(await previewLeftovers(), []);
  });
});
