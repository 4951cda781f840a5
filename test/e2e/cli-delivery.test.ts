// Delivery as people meet it in the CLI: a run waiting at production's approval gate, who may
// approve it, approving and rejecting; promoting a release and following it to the gate;
// releases and where they serve; locks; environment secrets that never show their values; and
// the audit log of it all. The `slipway` command runs as a child process against the real API
// served in this process over HTTP, on the fake executor, builder, deployer and source, so
// releases are built and deployed without a container engine.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AccessService } from '../../src/auth/access.ts';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { RunDetail, RunStatus } from '../../src/client/api.ts';
import { SlipwayClient } from '../../src/client/client.ts';
import type { EventRecord } from '../../src/client/delivery-api.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Deployments } from '../../src/deployments/service.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { EnvironmentSecrets, SecretKeeper } from '../../src/secrets/environment.ts';
import { createListener } from '../../src/server/app.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTriggers, type Triggers } from '../../src/triggers/triggers.ts';
import { slipway, type CliResult } from '../support/cli.ts';
import { parsedConfig } from '../support/config.ts';

const SHA = 'd'.repeat(40);
const SECRET_VALUE = 'hunter2-correct-horse-7f3a';
const root = mkdtempSync(join(tmpdir(), 'slipway-cli-delivery-'));

let store: Store;
let engine: Engine;
let triggers: Triggers;
let http: Server;
let url: string;
let admin: SlipwayClient;
let adminToken: string;
let doraToken: string;

before(async () => {
  const config = parsedConfig(
    [
      'registry: 127.0.0.1:5000',
      'pipeline:',
      '  - stage: test',
      '    run: make test',
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
    ].join('\n'),
  );
  store = await openSqliteStore(':memory:');
  const bus = new MemoryEventBus();
  const source = new FakeSource().setRef('/repos/payment.git', 'main', SHA);
  engine = new Engine({ store, bus, config, source, executor: new FakeExecutor(() => ({})), builder: new FakeBuilder(), deployer: new FakeDeployer(), workRoot: join(root, 'work') });
  const keeper = new SecretKeeper(SecretBox.open(join(root, 'secret.key')));
  triggers = await createTriggers({ config, store, bus, engine, source, secretBox: keeper });
  await engine.start();
  await triggers.start();
  const access = new AccessService(store);
  adminToken = (await access.bootstrap('test'))!.value;
  const listener = createListener({
    engine,
    store,
    bus,
    access,
    deployments: new Deployments(engine, store, config),
    secrets: new EnvironmentSecrets(config, store, keeper),
    info: { version: 'test', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: triggers.receiver, secrets: triggers.secrets },
    schedules: triggers.schedules,
    publicUrl: () => url,
  });
  http = createServer(listener);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  admin = new SlipwayClient(url, adminToken);
  await admin.addUser({ name: 'dora', role: 'deployer' });
  doraToken = (await admin.createToken({ name: 'laptop', user: 'dora' })).token;
});

after(async () => {
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
  await triggers.stop();
  await engine.stop();
  await triggers.close();
  await store.close();
  rmSync(root, { recursive: true, force: true });
});

const as = (token: string) => ({ server: url, env: { SLIPWAY_TOKEN: token }, timeoutMs: 30_000 });
const cli = (args: string[], options: { token?: string; input?: string } = {}): Promise<CliResult> => slipway(args, { ...as(options.token ?? adminToken), input: options.input });

async function ok(args: string[], options: { token?: string; input?: string } = {}): Promise<string> {
  const result = await cli(args, options);
  assert.equal(result.code, 0, `slipway ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

async function refused(args: string[], pattern: RegExp, options: { token?: string; input?: string } = {}): Promise<void> {
  const result = await cli(args, options);
  assert.equal(result.code, 1, `slipway ${args.join(' ')} should fail:\n${result.stdout}`);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

async function runUntil(id: number, statuses: RunStatus[]): Promise<RunDetail> {
  for (let tries = 0; tries < 500; tries++) {
    const run = await admin.run(id);
    if (statuses.includes(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`run ${id} never became ${statuses.join(' or ')}`);
}

/** A run of payment, started by the admin, built and deployed to staging, waiting at production's approval. */
async function waitingAtProduction(): Promise<number> {
  const run = await admin.startRun({ service: 'payment' });
  await runUntil(run.id, ['waiting']);
  return run.id;
}

// Secrets share nothing with the rest, so they run beside it: each command is a second of CPU.
describe('slipway CLI: delivery', { concurrency: true }, () => {
  describe('approvals, promotions, releases and locks', { concurrency: false }, () => {
    it('shows who may approve a waiting run, refuses a rejection without a reason, and approves', async () => {
      const runId = await waitingAtProduction();
      const [approval, noReason] = await Promise.all([ok(['approval', String(runId)]), cli(['reject', String(runId)])]);
      assert.match(approval, new RegExp(`Run #${runId}: payment release #1 \\(dddddddd\\) to production`));
      assert.match(approval, /waiting\s+⏸ approval to enter production: 1 approval from role deployer or above \(none given yet\)/);
      assert.match(approval, /until\s+in 3d \(\d{4}-\d\d-\d\d \d\d:\d\d\), then the run expires/);
      assert.match(approval, /may approve\s+dora\n/, 'not admin: the admin started the run');
      assert.match(approval, /approvals\s+no approvals yet \(0 of 1 from role deployer or above\); still missing 1 from role deployer or above/);
      assert.match(approval, /you: admin started this run and cannot approve it/);

      assert.equal(noReason.code, 1);
      assert.match(noReason.stderr, /required option '-m, --message <reason>' not specified/);
      assert.equal((await admin.audit({ type: 'approval.rejected' })).length, 0, 'nothing reached the server');

      const approved = await ok(['approve', String(runId), '-m', 'checked the dashboards'], { token: doraToken });
      assert.match(approved, new RegExp(`Approved run #${runId}: payment release #1 .* to production\\.`));
      assert.match(approved, /approved by dora \(1 of 1 from role deployer or above\); the run goes on/);
      assert.equal((await runUntil(runId, ['succeeded', 'failed'])).status, 'succeeded');

      await refused(['approve', String(runId)], new RegExp(`run ${runId} is succeeded, not waiting at a gate`), { token: doraToken });
    });

    it('rejects with a reason, follows a promotion to the gate, refuses an unknown release, and rolls back', async () => {
      const rejectedId = await waitingAtProduction();
      assert.match(await ok(['reject', String(rejectedId), '-m', 'not during the sale']), /rejected by admin: not during the sale; the run ends/);
      assert.match((await runUntil(rejectedId, ['rejected'])).reason ?? '', /rejected by admin: not during the sale/);

      const [promoted] = await Promise.all([
        ok(['promote', 'payment', '2', 'production', '--wait']),
        refused(['promote', 'payment', '99', 'production'], /service payment has no release #99/),
      ]);
      const promoteId = Number(/Promoting payment release #2 to production: run #(\d+)/.exec(promoted)?.[1]);
      assert.ok(promoteId > rejectedId, promoted);
      assert.match(promoted, /waiting\s+⏸ approval to enter production: 1 approval from role deployer or above \(none given yet\)/);
      assert.match(promoted, /until\s+in 3d \(.*\), then the run expires/);
      assert.match(promoted, /may approve\s+dora/);
      assert.match(promoted, new RegExp(`approve: slipway approve ${promoteId}`));
      assert.equal((await admin.run(promoteId)).status, 'waiting');
      await admin.cancelRun(promoteId);

      const rolledBack = await ok(['rollback', 'payment', 'staging', '-m', 'bad build', '--wait']);
      assert.match(rolledBack, /Rolling back payment in staging from release #2 to #1: run #\d+/);
      assert.match(rolledBack, /→ staging: http:\/\/payment\.staging\.fake\.invalid/);
      assert.match(rolledBack, /Run #\d+ succeeded in /);
    });

    it('lists releases with where they serve, and says so when a service has none', async () => {
      const [releases, none, every] = await Promise.all([ok(['releases', 'payment']), ok(['releases', 'ledger']), ok(['releases'])]);
      assert.match(releases, /RELEASE\s+COMMIT\s+FROM\s+DIGEST\s+BUILT\s+WHERE/);
      assert.match(releases, /#2\s+dddddddd\s+main\s+[0-9a-f]{12}\s+\d+s ago\s+served before: staging \(until \d+s ago\)\n/);
      assert.match(releases, /#1\s+dddddddd\s+main\s+[0-9a-f]{12}\s+\d+s ago\s+serving: staging, production; served before: staging \(until \d+s ago\)\n/);
      assert.equal(none.trim(), 'ledger has no releases yet; a run that builds an image makes one.');
      assert.match(every, /RELEASE\s+SERVICE\s+COMMIT.*\n#2\s+payment\s+dddddddd\s+main\s+[0-9a-f]{12}\s+#\d+/, 'without a service: every release');
    });

    it('locks and unlocks an environment, and the audit log has who and why', async () => {
      assert.match(await ok(['lock', 'production', '-m', 'incident 42']), /Locked production for every service: incident 42/);
      assert.match(await ok(['locks']), /production\s+every service\s+admin\s+\d+s ago \(.*\)\s+incident 42/);
      assert.match(await ok(['unlock', 'production'], { token: doraToken }), /Unlocked production for every service \(locked by admin \d+s ago: incident 42\)/);

      const [json, table] = await Promise.all([ok(['audit', '--type', 'lock.', '--json']), ok(['audit', '--type', 'approval.,lock.', '--environment', 'production', '--since', '1h'])]);
      const events = JSON.parse(json) as EventRecord[];
      assert.deepEqual(
        events.map(({ type, actor, environment, data }) => ({ type, actor, environment, data })),
        [
          { type: 'lock.released', actor: 'dora', environment: 'production', data: { reason: 'incident 42', lockedBy: 'admin' } },
          { type: 'lock.set', actor: 'admin', environment: 'production', data: { reason: 'incident 42' } },
        ],
      );
      assert.match(table, /WHEN\s+WHO\s+WHAT\s+WHERE\s+DETAIL/);
      assert.match(table, /\d+s ago \(\d{4}-\d\d-\d\d \d\d:\d\d\)\s+dora\s+lock\.released\s+production\s+"incident 42" \(locked by admin\)/);
      assert.match(table, /dora\s+approval\.given run #\d+\s+payment in production\s+release #1 "checked the dashboards"/);
      assert.match(table, /admin\s+approval\.rejected run #\d+\s+payment in production\s+release #2 "not during the sale"/);
    });

  });

  describe('secrets', () => {
    it('sets a secret from stdin or a file and never shows its value, then deletes it', async () => {
      const file = join(root, 'payment.key');
      writeFileSync(file, `-----BEGIN KEY-----\n${SECRET_VALUE}\n-----END KEY-----\n`);
      const [fromStdin, fromFile] = await Promise.all([
        ok(['secrets', 'set', 'staging', 'DATABASE_PASSWORD'], { input: `${SECRET_VALUE}\n` }),
        ok(['secrets', 'set', 'staging', 'SIGNING_KEY', '--service', 'payment', '--from-file', file]),
      ]);
      assert.match(fromStdin, /Set DATABASE_PASSWORD for every service in staging\./);
      assert.match(fromFile, /Set SIGNING_KEY for payment in staging\./);

      const [listed, answer] = await Promise.all([
        ok(['secrets', 'list']),
        fetch(`${url}/api/secrets`, { headers: { authorization: `Bearer ${adminToken}` } }).then((response) => response.text()),
      ]);
      assert.match(listed, /staging\s+DATABASE_PASSWORD\s+every service\s+\d+s ago\s+admin/);
      assert.match(listed, /staging\s+SIGNING_KEY\s+payment/);
      const audit = JSON.stringify(await admin.audit({ type: 'secret.' }));
      for (const text of [fromStdin, fromFile, listed, answer, audit]) assert.ok(!text.includes(SECRET_VALUE), `the value leaked: ${text}`);

      assert.match(await ok(['secrets', 'delete', 'staging', 'DATABASE_PASSWORD']), /Deleted DATABASE_PASSWORD for every service in staging\./);
      assert.deepEqual((await admin.secrets({ environment: 'staging' })).map((entry) => entry.name), ['SIGNING_KEY']);
    });
  });
});
