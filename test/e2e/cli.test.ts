// The CLI as a user meets it without containers: a broken config stops `up` with file:line:col,
// and with local processes a run goes through its command stages and says why nothing was
// built or deployed. Then what people see of variables, reruns and resumes, webhook secrets and
// deliveries, and schedules (key words and numbers, not exact spacing).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Delivery, RunDetail } from '../../src/client/api.ts';
import { SlipwayClient } from '../../src/client/client.ts';
import { savedTokenFor, slipway, startServerProcess, type ServerProcess } from '../support/cli.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-cli-'));
const servers: ServerProcess[] = [];

after(async () => {
  for (const server of servers) await server.kill();
  rmSync(root, { recursive: true, force: true });
});

/** A bare repository `<name>.git` whose main branch holds one commit of `app/` with these files. */
function repoWithCommit(name = 'svc', files: Record<string, string> = { 'check.sh': 'echo "checked $(cat VERSION) in $(basename $(pwd))"\n', VERSION: '7\n' }): string {
  const bare = join(root, `${name}.git`);
  const work = join(root, `work-${name}`);
  const env = { ...process.env, GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@t' };
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', bare]);
  mkdirSync(join(work, 'app'), { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(work, 'app', file), content);
  for (const args of [['init', '-q', '--initial-branch=main'], ['add', '.'], ['commit', '-q', '-m', 'one'], ['push', '-q', bare, 'HEAD:main']]) {
    execFileSync('git', args, { cwd: work, env });
  }
  return bare;
}

describe('slipway CLI', () => {
  it('refuses to start on a config error, naming file, line and column', async () => {
    const config = join(root, 'broken.yml');
    writeFileSync(config, ['pipeline:', '  - stage: test', '    run: make test', 'services:', '  api:', '    repo: ./api.git', '    port: "abc"', ''].join('\n'));
    const result = await slipway(['up', '--config', config, '--data', join(root, 'data-broken'), '--port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /nothing was started/);
    assert.match(result.stderr, new RegExp(`${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7:11: services\\.api\\.port: expected a number, got "abc"`));
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('runs command stages as local processes and says why nothing is built or deployed', async () => {
    const config = join(root, 'process.yml');
    writeFileSync(
      config,
      [
        'registry: 127.0.0.1:5000',
        'pipeline:',
        '  - stage: check',
        '    run: "{{ service.test }}"',
        '  - stage: build',
        '  - stage: deploy',
        '    environment: staging',
        'environments:',
        '  staging: {}',
        'services:',
        '  svc:',
        `    repo: ${repoWithCommit()}`,
        '    path: app',
        '    test: sh check.sh',
        '    port: 8080',
        '',
      ].join('\n'),
    );
    const server = await startServerProcess(['--config', config, '--data', join(root, 'data-process'), '--process']);
    servers.push(server);
    assert.match(server.output(), /No container engine: process executor requested\. Steps run as local processes; nothing is built or deployed\./);
    const result = await slipway(['run', 'svc', '--wait', '--json'], { server: server.url });
    assert.equal(result.code, 0, result.stderr);
    const run = JSON.parse(result.stdout) as RunDetail;
    assert.deepEqual(run.stages.map((stage) => stage.status), ['succeeded', 'succeeded', 'skipped', 'skipped']);
    assert.match(run.stages[2]!.reason!, /^no container engine on this machine, so nothing is built or deployed/);
    const logs = await slipway(['logs', String(run.id), '--json'], { server: server.url });
    const texts = logs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { stream: string; text: string });
    assert.ok(texts.some((line) => line.stream === 'stdout' && line.text === 'checked 7 in app'), logs.stdout);
    const status = await slipway(['status'], { server: server.url });
    assert.match(status.stdout, /svc\s+#1 ✓ succeeded/);
  });
});


describe('slipway CLI: variables, rerun and resume, webhooks and schedules', () => {
  const gateFile = join(root, 'gate-open');
  let server: ServerProcess;
  let bare: string;
  const cli = (args: string[]) => slipway(args, { server: server.url });

  before(async () => {
    bare = repoWithCommit('gated', {
      'check.sh': 'echo "greeting: ${GREETING:-none}"\n',
      'gate.sh': 'test -f "$GATE_FILE" || { echo "gate closed: no $GATE_FILE" >&2; exit 3; }\necho "gate open"\n',
    });
    const config = join(root, 'gated.yml');
    writeFileSync(
      config,
      [
        'pipeline:',
        '  - stage: check',
        '    run: "{{ service.test }}"',
        '  - stage: gate',
        '    run: sh gate.sh',
        'forges:',
        '  github:',
        '    secret: github-forge-wide-secret',
        'schedules:',
        '  - name: nightly',
        '    cron: "30 4 * * *"',
        '    timezone: Europe/Berlin',
        'services:',
        '  svc:',
        `    repo: ${bare}`,
        '    path: app',
        '    test: sh check.sh',
        '',
      ].join('\n'),
    );
    server = await startServerProcess(['--config', config, '--data', join(root, 'data-gated'), '--process']);
    servers.push(server);
  });

  it('passes --var variables to the steps, and refuses a malformed one', async () => {
    const failed = await cli(['run', 'svc', '--var', 'GREETING=hello there', '--var', `GATE_FILE=${gateFile}`, '--wait']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, /Run #1 of svc at [0-9a-f]{8} \(main\)/);
    assert.match(failed.stdout, /GREETING=hello there/);
    assert.match(failed.stdout, /✓ check/);
    assert.match(failed.stdout, /✗ gate command exited with code 3/);
    assert.match(failed.stdout, /gate closed: no /, 'the failed stage shows its log tail');
    assert.match(failed.stdout, /Run #1 failed/);
    const logs = await cli(['logs', '1']);
    assert.match(logs.stdout, /greeting: hello there/);

    const malformed = [
      ['NOPE', /--var NOPE: expected KEY=VALUE/],
      ['1X=2', /--var 1X=2: "1X" is not a variable name/],
      ['=2', /--var =2: the name is missing/],
    ] as const;
    const results = await Promise.all(malformed.map(([bad]) => cli(['run', 'svc', '--var', bad])));
    results.forEach((result, index) => {
      assert.equal(result.code, 1);
      assert.match(result.stderr, malformed[index]![1]);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
    const runs = JSON.parse((await cli(['runs', '--json'])).stdout) as RunDetail[];
    assert.equal(runs.length, 1, 'a malformed --var starts nothing');
  });

  it('resumes a failed run from the failed stage, and reruns it from the start', async () => {
    writeFileSync(gateFile, '');
    const resumed = await cli(['resume', '1', '--wait']);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /Run #2 of svc at [0-9a-f]{8} \(main\), resume of #1/);
    assert.match(resumed.stdout, /– check passed in run #1; reused/);
    assert.match(resumed.stdout, /✓ gate/);
    assert.match(resumed.stdout, /Run #2 succeeded/);

    const [again, missing, notANumber] = await Promise.all([cli(['resume', '2']), cli(['rerun', '99']), cli(['rerun', 'abc'])]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /slipway: run 2 succeeded; there is nothing to resume \(rerun it instead\)/);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /slipway: run 99 does not exist/);
    assert.equal(notANumber.code, 1);
    assert.match(notANumber.stderr, /slipway: expected a run number such as 12, got "abc"/);

    const rerun = await cli(['rerun', '1', '--wait', '--json']);
    assert.equal(rerun.code, 0, rerun.stderr);
    const run = JSON.parse(rerun.stdout) as RunDetail;
    assert.deepEqual([run.id, run.trigger.kind, run.originRunId, run.status], [3, 'rerun', 1, 'succeeded']);
    assert.deepEqual(run.variables, { GREETING: 'hello there', GATE_FILE: gateFile });
    assert.deepEqual(run.stages.map((stage) => stage.status), ['succeeded', 'succeeded', 'succeeded']);

    const queued = await cli(['rerun', '3']);
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stdout, /Run #4 of svc at [0-9a-f]{8} \(main\), rerun of #3: (queued \(1st in main, queue\)|running|succeeded)/);

    const [runs, show, status] = await Promise.all([cli(['runs']), cli(['show', '2']), cli(['status'])]);
    assert.match(runs.stdout, /LANE\s+TRIGGER/);
    assert.match(runs.stdout, /#3\s+svc\s+✓ succeeded\s+[0-9a-f]{8}\s+main\s+rerun of #1/);
    assert.match(runs.stdout, /#2\s+svc\s+✓ succeeded\s+[0-9a-f]{8}\s+main\s+resume of #1/);
    assert.match(runs.stdout, /#1\s+svc\s+✗ failed\s+[0-9a-f]{8}\s+main\s+manual/);
    assert.match(show.stdout, /trigger\s+resume of #1 by admin/);
    assert.match(show.stdout, /lane\s+main \(queue\)/);
    assert.match(show.stdout, /variables\s+GREETING=hello there/);
    assert.match(show.stdout, /check\s+skipped\s+passed in run #1; reused/);
    assert.match(status.stdout, /svc\s+#4 \S+ \S+.* on main/);
  });

  it('sets webhook secrets from stdin, never shows them, and lists deliveries', async () => {
    const token = 'plain-git-hook-token';
    const [set, setGit, short, unknown, generated] = await Promise.all([
      slipway(['webhook', 'secret', 'set', 'gitea', 'acme/web'], { server: server.url, input: 'gitea-secret-value\n' }),
      slipway(['webhook', 'secret', 'set', 'git', bare], { server: server.url, input: `${token}\n` }),
      slipway(['webhook', 'secret', 'set', 'gitea', 'acme/other'], { server: server.url, input: 'short\n' }),
      slipway(['webhook', 'secret', 'set', 'bitbucket', 'acme/web'], { server: server.url, input: 'long-enough-secret\n' }),
      cli(['webhook', 'secret', 'set', 'github', 'acme/api', '--generate']),
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stderr, /Set the gitea webhook secret for acme\/web/);
    assert.match(set.stderr, new RegExp(`${server.url}/hooks/gitea`));
    assert.equal(setGit.code, 0, setGit.stderr);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /the secret is too short: expected at least 8 characters/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown forge bitbucket; expected one of github, gitlab, gitea, git/);
    assert.equal(generated.code, 0, generated.stderr);
    assert.match(generated.stdout, /^[0-9a-f]{64}\n$/, 'only the secret on stdout');
    assert.match(generated.stderr, /it is not shown again/);

    // A plain repository's push: once with a wrong token (refused and counted), once as the hook sends it.
    const commit = execFileSync('git', ['rev-parse', 'main'], { cwd: bare }).toString().trim();
    const body = JSON.stringify({ repository: bare, ref: 'refs/heads/main', before: '0'.repeat(40), after: commit, commit, forced: false, commits: 1, pusher: 'alice' });
    const post = (sentToken: string) =>
      fetch(`${server.url}/hooks/git`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-slipway-token': sentToken, 'x-slipway-delivery': `delivery-${sentToken}` },
      });
    assert.equal((await post('wrong-token-value')).status, 401);
    assert.equal((await post(token)).status, 202);

    const status = await cli(['webhook', 'status']);
    assert.equal(status.code, 0, status.stderr);
    for (const forge of ['github', 'gitlab', 'gitea']) assert.match(status.stdout, new RegExp(`${forge}\\s+${server.url}/hooks/${forge}`));
    assert.match(status.stdout, /gitea\s+acme\/web\s+the API/);
    assert.match(status.stdout, /github\s+acme\/api\s+the API/);
    assert.match(status.stdout, /github\s+\* \(every repository\)\s+slipway\.yml, for the whole forge/);
    assert.match(status.stdout, /git\s+bad signature\s+1/);
    for (const secret of ['gitea-secret-value', token, 'github-forge-wide-secret', generated.stdout.trim()]) {
      assert.ok(!status.stdout.includes(secret), `${secret} is not shown`);
    }

    const api = new SlipwayClient(server.url, savedTokenFor(server.url));
    let deliveries: Delivery[] = [];
    for (let tries = 0; tries < 200 && deliveries[0]?.status !== 'processed'; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 25));
      deliveries = await api.deliveries();
    }
    assert.equal(deliveries.length, 1, 'the refused delivery is not stored');
    assert.equal(deliveries[0]!.status, 'processed');
    const listed = await cli(['deliveries']);
    assert.match(listed.stdout, /DELIVERY\s+FORGE\s+EVENT\s+REPOSITORY\s+STATUS\s+RECEIVED\s+OUTCOME/);
    assert.match(listed.stdout, new RegExp(`#1\\s+git\\s+push\\s+${bare.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+processed\\s+\\d+s ago\\s+push to main`));

    const removed = await cli(['webhook', 'secret', 'rm', 'gitea', 'acme/web']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed the gitea webhook secret for acme\/web/);
    const again = await cli(['webhook', 'secret', 'rm', 'gitea', 'acme/web']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /slipway: no gitea webhook secret is set for acme\/web through the API/);
  });

  it('lists schedules with their next and last tick', async () => {
    const result = await cli(['schedules']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /SCHEDULE\s+CRON\s+TIME ZONE\s+SERVICES\s+NEXT\s+LAST/);
    assert.match(result.stdout, /nightly\s+30 4 \* \* \*\s+Europe\/Berlin\s+svc\s+in \d+[smhd] \(\d{4}-\d\d-\d\d 04:30\)\s+\d+[smhd] ago \(\d{4}-\d\d-\d\d 04:30\)/);
    const [schedule] = JSON.parse((await cli(['schedules', '--json'])).stdout) as Array<{ name: string; nextAt: string }>;
    assert.equal(schedule!.name, 'nightly');
    assert.ok(Date.parse(schedule!.nextAt) > Date.now());
  });
});
