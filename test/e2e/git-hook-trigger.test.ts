// Repositories with no forge, end to end: a real server (in-process, process executor) builds
// services from plain bare repositories. One has the post-receive hook that the real CLI's
// `slipway hook install` writes, so a real `git push` notifies the server and runs the pushed
// commit; the other has no hook and is polled.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { slipway } from '../support/cli.ts';
import { PUSHER } from '../support/git-hook.ts';
import {
  createRepository,
  deliveries,
  finished,
  queryDatabase,
  runGit,
  runs,
  startTestServer,
  waitFor,
  type TestRepository,
  type TestServer,
} from '../support/webhooks.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-git-trigger-'));
let server: TestServer;
let hooked: TestRepository;
let polled: TestRepository;
/** The commit `polled` had when the server started. */
let polledBaseline: string;

/** A real push from the work tree; answers what git printed (the hook's lines start "remote: "). */
async function push(repository: TestRepository, branch: string): Promise<string> {
  const result = await runGit(['push', 'origin', branch], repository.work);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout + result.stderr;
}

/** Waits for the run of `service` at `sha` and answers it once finished. */
async function runAt(service: string, sha: string, timeoutMs?: number) {
  const run = await waitFor(`a run of ${service} at ${sha.slice(0, 12)}`, async () => (await runs(server.url, service)).find((candidate) => candidate.commitSha === sha), timeoutMs);
  return finished(server.url, run.id);
}

describe('plain git repositories: the post-receive hook and polling', () => {
  before(async () => {
    hooked = await createRepository(join(root, 'repos', 'app.git'), join(root, 'work', 'app'));
    polled = await createRepository(join(root, 'repos', 'polled.git'), join(root, 'work', 'polled'));
    polledBaseline = await polled.commit({ 'README.md': '# polled\n' }, 'before the server started');
    await polled.push('main');
    server = await startTestServer({
      root,
      config: [
        'pipeline:',
        '  - stage: test',
        '    run: "{{ service.test }}"',
        'services:',
        '  app:',
        `    repo: ${hooked.bare}`,
        '    test: test -f README.md && echo "app tests pass"',
        '  polled:',
        `    repo: ${polled.bare}`,
        '    poll: 1s',
        '    test: test -f README.md',
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('a push into a repository with the installed hook runs exactly the pushed commit', async () => {
    const install = await slipway(['hook', 'install', hooked.bare], { server: server.url, timeoutMs: 60_000 });
    assert.equal(install.code, 0, install.stdout + install.stderr);
    assert.ok(install.stdout.includes(`pushes to ${hooked.bare} will notify ${server.url}/hooks/git, which runs app`), install.stdout);

    const first = await hooked.commit({ 'README.md': '# app\n' }, 'first');
    const output = await push(hooked, 'main');
    assert.ok(output.includes(`slipway: notified ${server.url}/hooks/git of refs/heads/main (202)`), output);

    const run = await runAt('app', first);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    assert.deepEqual(run.trigger, { kind: 'push', by: PUSHER });
    assert.equal(run.ref, 'main');
    const [delivery] = await deliveries(server.url);
    assert.equal(delivery?.forge, 'git');
    assert.equal(delivery?.repository, hooked.bare);
    assert.match(delivery?.outcome ?? '', new RegExp(`^push to main started run #${run.id} of app$`));

    // The next push is compared with the one before: a run of the new commit, and only that.
    const second = await hooked.commit({ 'src/app.sh': 'echo app\n' }, 'second');
    await push(hooked, 'main');
    const next = await runAt('app', second);
    assert.equal(next.status, 'succeeded', next.reason ?? '');
    assert.deepEqual(
      (await runs(server.url, 'app')).map((candidate) => candidate.commitSha),
      [second, first],
    );
  });

  it('a polled repository without a hook runs a pushed commit within a bounded wait', async () => {
    // The first poll only records the head it sees; a push before it would become the baseline.
    const cursor = `poll:${polled.bare}#main`;
    await waitFor(
      'the first poll to record the baseline',
      async () => queryDatabase<{ value: string }>(server.dataDir, 'SELECT value FROM cursors WHERE key = ?', cursor)[0]?.value === polledBaseline,
      20_000,
    );
    assert.deepEqual(await runs(server.url, 'polled'), [], 'the baseline itself runs nothing');

    const sha = await polled.commit({ 'src/polled.sh': 'echo polled\n' }, 'after the server started');
    await push(polled, 'main');
    const run = await runAt('polled', sha, 20_000);
    assert.equal(run.status, 'succeeded', run.reason ?? '');
    assert.deepEqual(run.trigger, { kind: 'push', by: 'poller' });
    assert.equal((await runs(server.url, 'polled')).length, 1);
    assert.ok(!(await deliveries(server.url)).some((delivery) => delivery.repository === polled.bare), 'polling stores no delivery');
  });
});
