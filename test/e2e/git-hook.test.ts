// `slipway hook install` and the hook it writes, as a user meets them: the real CLI installs the
// hook into a real bare repository, real `git push`es run it, and a stand-in server (the server
// side is not what is tested here) hands out the token and records what the hook sends. The git
// forge must accept every recorded delivery.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GitForge } from '../../src/forges/git/forge.ts';
import { BIN, slipway, type CliResult } from '../support/cli.ts';
import {
  git,
  GIT_ENV,
  HOOK_TOKEN,
  hookedRepository,
  PUSH_STEPS,
  PUSHER,
  pushScenario,
  runGit,
  startHookServer,
  type HookServer,
} from '../support/git-hook.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-git-hook-'));
const servers: HookServer[] = [];
after(async () => {
  for (const server of servers) await server.close();
  rmSync(root, { recursive: true, force: true });
});

let folders = 0;
function freshFolder(): string {
  folders += 1;
  const dir = join(root, `case-${folders}`);
  mkdirSync(dir);
  return dir;
}

async function server(): Promise<HookServer> {
  const started = await startHookServer();
  servers.push(started);
  return started;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const forge = new GitForge();

/** Runs the hook's command the way git does: inside the bare repository, the updates on stdin. */
function notify(bare: string, input: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'hook', 'notify'], { cwd: bare, env: { ...GIT_ENV, GIT_DIR: '.' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A hooked repository with one commit ready to push on main. */
async function readyToPush(slipwayServer: HookServer) {
  const repository = await hookedRepository(freshFolder(), slipwayServer);
  await git(['commit', '--quiet', '--allow-empty', '-m', 'one'], repository.work);
  return repository;
}

describe('slipway hook', () => {
  it('install registers the repository, keeps the token in its git config and writes an executable hook', async () => {
    const slipwayServer = await server();
    const { bare, install } = await hookedRepository(freshFolder(), slipwayServer);

    assert.deepEqual(
      slipwayServer.requests.map(({ method, path, headers, body }) => [method, path, headers['content-type'], JSON.parse(body.toString('utf8'))]),
      [['POST', '/api/git-hooks', 'application/json', { repository: bare }]],
    );
    const hookUrl = `${slipwayServer.url}/hooks/git`;
    assert.equal(await git(['config', 'slipway.url'], bare), hookUrl);
    assert.equal(await git(['config', 'slipway.repository'], bare), bare);
    assert.equal(await git(['config', 'slipway.token'], bare), HOOK_TOKEN);

    const hook = join(bare, 'hooks', 'post-receive');
    assert.equal(statSync(hook).mode & 0o777, 0o755);
    const script = readFileSync(hook, 'utf8');
    assert.match(script, /^#!\/bin\/sh\n/);
    assert.ok(script.includes(`exec '${process.execPath}' '${BIN}' hook notify`), script);

    assert.ok(install.stdout.includes(hook), install.stdout);
    assert.ok(install.stdout.includes(hookUrl), install.stdout);
    assert.ok(install.stdout.includes('builds no service from it yet'), install.stdout);
    assert.ok(install.stdout.trim().split('\n').length <= 2, install.stdout);
  });

  it('every push notifies Slipway of each ref it updated, in a delivery the git forge accepts', async () => {
    const slipwayServer = await server();
    const { bare, work } = await hookedRepository(freshFolder(), slipwayServer);
    const steps = await pushScenario(work, slipwayServer);
    const secretFor = (repository: { fullName: string }) => (repository.fullName === bare ? HOOK_TOKEN : null);
    const deliveryIds = new Set<string>();

    for (const name of PUSH_STEPS) {
      const { deliveries, expected, output } = steps[name];
      assert.equal(deliveries.length, expected.length, `${name}: ${output}`);
      for (const update of expected) {
        const delivery = deliveries.find((candidate) => JSON.parse(candidate.body.toString('utf8')).ref === update.ref);
        assert.ok(delivery, `${name}: ${update.ref} was sent`);
        assert.equal(delivery.method, 'POST');
        assert.equal(delivery.path, '/hooks/git');
        assert.equal(delivery.headers['content-type'], 'application/json');
        assert.equal(delivery.headers['x-slipway-token'], HOOK_TOKEN);
        const deliveryId = String(delivery.headers['x-slipway-delivery']);
        assert.match(deliveryId, UUID);
        deliveryIds.add(deliveryId);
        assert.deepEqual(JSON.parse(delivery.body.toString('utf8')), { repository: bare, ...update, pusher: PUSHER }, `${name} ${update.ref}`);
        assert.ok(output.includes(`slipway: notified ${slipwayServer.url}/hooks/git of ${update.ref} (202)`), output);

        const result = forge.parseWebhook(delivery.headers, delivery.body, secretFor);
        const kind = update.ref.startsWith('refs/heads/') ? 'push' : update.ref.startsWith('refs/tags/') ? 'tag' : 'ignored';
        assert.equal(result.kind === 'event' ? result.event.kind : result.kind, kind, `${name} ${update.ref}: ${JSON.stringify(result)}`);
      }
    }
    assert.equal(deliveryIds.size, slipwayServer.deliveries().length, 'no delivery id twice');

    const events = PUSH_STEPS.flatMap((name) => steps[name].deliveries).map((delivery) => forge.parseWebhook(delivery.headers, delivery.body, secretFor));
    const summary = events.flatMap((result) => {
      if (result.kind !== 'event') return [];
      const { event } = result;
      if (event.kind === 'push') return [`push ${event.branch}${event.created ? ' created' : ''}${event.deleted ? ' deleted' : ''}${event.forced ? ' forced' : ''} ${event.commitCount}`];
      if (event.kind === 'tag') return [`tag ${event.tag}${event.deleted ? ' deleted' : ''}`];
      return [];
    });
    assert.deepEqual(summary.sort(), [
      'push feature created 0',
      'push feature deleted 0',
      'push main 1',
      'push main created 2',
      'push main forced 1',
      'push topic created 2',
      'tag v1.0',
      'tag v1.0 deleted',
      'tag v1.1',
    ]);
  });

  it('--url names the repository the way services clone it', async () => {
    const slipwayServer = await server();
    const url = 'ssh://git@git.example.com/team/api.git';
    const { bare, work, install } = await hookedRepository(freshFolder(), slipwayServer, ['--url', url]);
    assert.equal(await git(['config', 'slipway.repository'], bare), url);
    assert.ok(install.stdout.includes(`pushes to ${url} will notify ${slipwayServer.url}/hooks/git, which runs api, api-worker`), install.stdout);
    await git(['commit', '--quiet', '--allow-empty', '-m', 'one'], work);
    await git(['push', '--quiet', 'origin', 'main'], work);
    const [registration, delivery] = slipwayServer.requests;
    assert.deepEqual(JSON.parse(registration!.body.toString('utf8')), { repository: url });
    assert.equal(JSON.parse(delivery!.body.toString('utf8')).repository, url);
  });

  it('install refuses a folder that is not a bare repository, and asks the server nothing', async () => {
    const slipwayServer = await server();
    const dir = freshFolder();
    const bare = join(dir, 'bare.git');
    const workTree = join(dir, 'work');
    const plain = join(dir, 'plain');
    mkdirSync(plain);
    await git(['init', '--quiet', '--bare', bare]);
    await git(['init', '--quiet', workTree]);
    for (const path of [join(dir, 'missing.git'), plain, workTree, join(bare, 'objects')]) {
      const result = await slipway(['hook', 'install', path], { server: slipwayServer.url, timeoutMs: 30_000 });
      assert.equal(result.code, 1, `${path}: ${result.stdout}${result.stderr}`);
      assert.ok(result.stderr.includes(`not a bare git repository: ${path}`), result.stderr);
    }
    assert.deepEqual(slipwayServer.requests, []);
  });

  it("install keeps a post-receive hook that is not Slipway's unless told --force", async () => {
    const slipwayServer = await server();
    const bare = join(freshFolder(), 'repo.git');
    await git(['init', '--quiet', '--bare', bare]);
    const hook = join(bare, 'hooks', 'post-receive');
    const theirs = '#!/bin/sh\necho deploying the old way\n';
    writeFileSync(hook, theirs, { mode: 0o755 });

    const refused = await slipway(['hook', 'install', bare], { server: slipwayServer.url, timeoutMs: 30_000 });
    assert.equal(refused.code, 1);
    assert.ok(refused.stderr.includes(`${hook} exists and is not Slipway's`), refused.stderr);
    assert.ok(refused.stderr.includes('--force'), refused.stderr);
    assert.equal(readFileSync(hook, 'utf8'), theirs);
    assert.deepEqual(slipwayServer.requests, []);

    const forced = await slipway(['hook', 'install', bare, '--force'], { server: slipwayServer.url, timeoutMs: 30_000 });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(readFileSync(hook, 'utf8'), /hook notify/);
    const again = await slipway(['hook', 'install', bare], { server: slipwayServer.url, timeoutMs: 30_000 });
    assert.equal(again.code, 0, `Slipway's own hook is replaced without --force: ${again.stderr}`);
  });

  it('a push succeeds and says so when Slipway refuses the delivery', async () => {
    const slipwayServer = await server();
    const { work } = await readyToPush(slipwayServer);
    slipwayServer.answer = 401;
    const push = await runGit(['push', 'origin', 'main'], work);
    assert.equal(push.code, 0, push.stderr);
    assert.ok(push.stderr.includes(`slipway: could not notify ${slipwayServer.url}/hooks/git: refs/heads/main: HTTP 401 the token is wrong`), push.stderr);
  });

  it('a push does not wait more than 5 s for a Slipway that does not answer', async () => {
    const slipwayServer = await server();
    const { work } = await readyToPush(slipwayServer);
    slipwayServer.answer = 'never';
    const started = Date.now();
    const push = await runGit(['push', 'origin', 'main'], work);
    const took = Date.now() - started;
    assert.equal(push.code, 0, push.stderr);
    assert.ok(push.stderr.includes(`slipway: could not notify ${slipwayServer.url}/hooks/git: refs/heads/main: no answer within 5 s`), push.stderr);
    assert.ok(took < 15_000, `the push took ${took} ms`);
    assert.equal(slipwayServer.deliveries().length, 1);
  });

  it('a push succeeds when Slipway is down, and the hook exits 0', async () => {
    const slipwayServer = await server();
    const { bare, work } = await readyToPush(slipwayServer);
    await slipwayServer.close();
    const push = await runGit(['push', 'origin', 'main'], work);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, new RegExp(`slipway: could not notify ${slipwayServer.url}/hooks/git: refs/heads/main: ECONNREFUSED`));

    const sha = await git(['rev-parse', 'main'], bare);
    const direct = await notify(bare, `${'0'.repeat(40)} ${sha} refs/heads/other\n`);
    assert.equal(direct.code, 0);
    assert.match(direct.stderr, /slipway: could not notify .*ECONNREFUSED/);
  });

  it('the hook in a repository that lost its settings says what to do, and exits 0', async () => {
    const bare = join(freshFolder(), 'repo.git');
    await git(['init', '--quiet', '--bare', bare]);
    const result = await notify(bare, `${'0'.repeat(40)} ${'1'.repeat(40)} refs/heads/main\n`);
    assert.equal(result.code, 0);
    assert.match(result.stderr, /^slipway: could not notify Slipway: .*slipway hook install/);
  });
});
