// Delivery end to end on the real thing: a git repository, Podman through its Docker API, the
// local registry, HAProxy, the server in this process (so the test can move its clock) and the
// API as two different people. One release goes through staging, soaks, waits for a second person's
// approval across a server restart, and reaches production as the very same digest; its
// environment's secret reaches its container and never its log, in any encoding; a rollback
// goes back to the release before last; a forced promotion is in the audit log; a rejection ends
// a run, an approval nobody gives expires, a promotion outside its window waits. People hear of
// it through a real SMTP server (the approval request, sent to the approvers, with its link) and
// a real webhook receiver (signed).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SlipwayClient, ApiError } from '../../src/client/client.ts';
import type { RunDetail } from '../../src/client/api.ts';
import { isTerminalRun } from '../../src/core/types.ts';
import { ownerOf, startServer, type RunningServer } from '../../src/server/main.ts';
import { verifyWebhookSignature } from '../../src/notifiers/webhook/notifier.ts';
import { removeBuiltImages, requireBusybox, requireRegistry, type requireEngine } from '../support/engine.ts';
import { removeOwned } from '../support/fleet.ts';
import { stopProxy, testProxy, type TestProxy } from '../support/proxy.ts';
import { webServiceRepository } from '../support/repository.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../support/receivers.ts';
import { until } from '../support/wait.ts';

type ContainerEngine = Awaited<ReturnType<typeof requireEngine>>;

const root = mkdtempSync(join(tmpdir(), 'slipway-delivery-'));
const dataDir = join(root, 'data');
const configFile = join(root, 'slipway.yml');
/** Long enough to have every shape the log must hide: '/', '+' and '=' change under URL and JSON encodings. */
const SECRET = 'sw-Secret/Token+2026=ok';
const clock = { now: new Date('2026-12-07T10:00:00Z') };
let engine: ContainerEngine;
/** One for the file: the restarted server takes the same ports. */
let proxy: TestProxy;
let server: RunningServer;
let admin: SlipwayClient;
let erin: SlipwayClient;
let hook: HttpReceiver;
let mail: SmtpReceiver;
const HOOK_SECRET = 'e2e-delivery-hook-secret';

const repository = webServiceRepository(root, { name: 'Carol Coder', email: 'carol@example.test' });
const bare = repository.bare;

/** A version of the service whose smoke stage prints the secret every way a careless script might. */
function commitVersion(version: string): string {
  const smoke = [
    'echo "whole: $API_TOKEN"',
    'printf "chunks: %s" "$(echo "$API_TOKEN" | cut -c1-9)"; sleep 0.3; echo "$API_TOKEN" | cut -c10-',
    'echo "$API_TOKEN" | cut -c1-11',
    'echo "$API_TOKEN" | cut -c12-',
    'printf "%s" "$API_TOKEN" | base64',
    'printf "a%s" "$API_TOKEN" | base64',
    'printf "ab%s" "$API_TOKEN" | base64',
    'echo "done"',
    '',
  ].join('\n');
  return repository.commit(version, { files: { 'smoke.sh': smoke } });
}

async function start(): Promise<void> {
  server = await startServer({ configFile, dataDir, port: 0, credentialsFile: null, now: () => clock.now, wakeEveryMs: 60_000, proxy: { ...proxy }, say: () => {} });
  const token = readFileSync(join(dataDir, 'cli-token'), 'utf8').trim();
  admin = new SlipwayClient(server.url, token);
}

async function runUntil(id: number, done: (run: RunDetail) => boolean, what: string): Promise<RunDetail> {
  return until(what, async () => {
    const run = await admin.run(id);
    return done(run) ? run : null;
  }, 240_000);
}

const waiting = (run: RunDetail) => run.status === 'waiting' || isTerminalRun(run.status);

async function containersOf(environment: string) {
  const listed = await engine.docker.listContainers({ filters: { label: [`slipway.owner=${ownerOf(dataDir)}`, `slipway.environment=${environment}`] } });
  return Promise.all(listed.map((container) => engine.docker.getContainer(container.Id).inspect()));
}

/** What production answers at its address (on the route's own port), whatever release serves. */
async function productionAnswers(): Promise<string> {
  const production = (await admin.service('shop')).environments.find((environment) => environment.environment === 'production')!;
  assert.equal(production.current?.url, production.address!.url, 'the deployment is at the stable address');
  const response = await fetch(`${production.address!.portUrl}/version`, { signal: AbortSignal.timeout(5000) });
  return (await response.text()).trim();
}

describe('delivery end to end (Podman, registry, git)', () => {
  before(async () => {
    ({ engine } = await requireBusybox());
    const registry = await requireRegistry();
    proxy = await testProxy();
    hook = await startHttpReceiver();
    mail = await startSmtpReceiver({ user: 'mailer', pass: 'mail-pass-e2e' });
    writeFileSync(
      configFile,
      [
        `registry: ${registry}`,
        'pipeline:',
        '  - stage: build',
        '  - stage: deploy-staging',
        '    environment: staging',
        '  - stage: smoke-staging',
        '    run: sh smoke.sh',
        '    environment: staging',
        '  - stage: deploy-production',
        '    environment: production',
        'environments:',
        '  staging:',
        '    health_timeout: 10s',
        '    drain_timeout: 2s',
        '    bake: 0',
        '    secrets: [API_TOKEN]',
        '    soak: 1h',
        '  production:',
        '    health_timeout: 10s',
        '    drain_timeout: 2s',
        '    bake: 0',
        '    approval:',
        '      rules: [{ roles: [deployer] }]',
        '      expires: 1d',
        '    windows: [{ days: mon-fri, from: "08:00", to: "20:00", timezone: UTC }]',
        'notifications:',
        '  channels:',
        '    - name: ops-hook',
        '      type: webhook',
        `      url: ${hook.origin}/slipway`,
        `      secret: ${HOOK_SECRET}`,
        '      events: [deployed, rolled_back]',
        '      environments: [production]',
        '    - name: approvers',
        '      type: email',
        `      smtp: smtp://mailer:mail-pass-e2e@${mail.host}:${mail.port}`,
        '      from: Slipway <ci@example.test>',
        '      to: [releases@example.test]',
        '      events: [approval.waiting]',
        'services:',
        '  shop:',
        `    repo: ${bare}`,
        '    toolchain: localhost/slipway/busybox:latest',
        '    port: 8080',
        '    health: { path: /healthz, interval: 200ms }',
        '',
      ].join('\n'),
    );
    commitVersion('1');
    await start();
    await admin.addUser({ name: 'erin', role: 'deployer', email: 'erin@example.test' });
    erin = new SlipwayClient(server.url, (await admin.createToken({ name: 'erin', user: 'erin' })).token);
  });

  after(async () => {
    await server?.close();
    // Stopped by close(), unless a start failed half way.
    await stopProxy(dataDir);
    await hook?.close();
    await mail?.close();
    if (engine) {
      await removeOwned(ownerOf(dataDir));
      await removeBuiltImages(repository.commits);
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('fails a stage whose environment secret is not set, naming it, before anything runs there', async () => {
    const run = await admin.startRun({ service: 'shop' });
    const ended = await runUntil(run.id, (current) => isTerminalRun(current.status), 'the run without its secret to end');
    assert.equal(ended.status, 'failed');
    const deploy = ended.stages.find((stage) => stage.name === 'deploy-staging')!;
    assert.match(deploy.reason!, /secret API_TOKEN of environment staging is not set/);
    assert.equal((await containersOf('staging')).length, 0, 'nothing was deployed');
  });

  it('soaks in staging, survives a restart while it waits for approval, refuses self-approval, and production runs the digest staging ran', async () => {
    await admin.setSecret('staging', 'API_TOKEN', { value: SECRET });
    assert.deepEqual((await admin.secrets()).map((entry) => [entry.environment, entry.name, 'value' in entry]), [['staging', 'API_TOKEN', false]]);
    const run = await admin.startRun({ service: 'shop' });
    let current = await runUntil(run.id, waiting, 'the run to reach the production gate');
    assert.equal(current.status, 'waiting', current.reason ?? '');
    const gate = current.stages.find((stage) => stage.status === 'waiting')!;
    assert.equal(gate.wait?.kind, 'soak');

    // The secret reached the staging container, and no form of it reached the log.
    const [stagingContainer] = await containersOf('staging');
    assert.ok(stagingContainer!.Config.Env.includes(`API_TOKEN=${SECRET}`));
    const smoke = current.stages.find((stage) => stage.name === 'smoke-staging')!;
    const log = (await admin.logs(run.id, { stage: smoke.id })).map((line) => line.text).join('\n');
    assert.match(log, /done/);
    const forms = [SECRET, SECRET.slice(0, 11), SECRET.slice(11), Buffer.from(SECRET).toString('base64').slice(0, 24)];
    for (const [k, filler] of ['', 'a', 'ab'].entries()) forms.push(Buffer.from(filler + SECRET).toString('base64').slice(k === 0 ? 0 : 4, 28));
    for (const form of forms) assert.ok(!log.includes(form), `the log shows ${form}:\n${log}`);
    assert.ok((log.match(/\*\*\*/g) ?? []).length >= 7, log);

    clock.now = new Date(clock.now.getTime() + 61 * 60_000);
    await server.engine.waker.tick();
    current = await runUntil(run.id, (now) => now.stages.some((stage) => stage.wait?.kind === 'approval') || isTerminalRun(now.status), 'the approval to be asked');

    await server.close();
    await start();
    erin = new SlipwayClient(server.url, (await admin.createToken({ name: 'erin again', user: 'erin' })).token);
    assert.equal((await admin.run(run.id)).status, 'waiting', 'still waiting after the restart');

    // The page a notification links to: served without a token (it signs the person in), locked down by its CSP.
    const page = await fetch(`${server.url}/runs/${run.id}/approval`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Sign in to Slipway to see and decide this approval/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    // The approvers heard of it by e-mail (sent before the restart), with the link to the page.
    const asked = await until('the approval request by e-mail', () => mail.mails.find((received) => received.parsed.subject?.includes(`#${run.id}`)));
    assert.deepEqual(asked.to.sort(), ['erin@example.test', 'releases@example.test']);
    assert.match(asked.parsed.text ?? '', new RegExp(`http://127\\.0\\.0\\.1:\\d+/runs/${run.id}/approval`));
    assert.match(asked.parsed.text ?? '', /waiting for approval to enter production/);
    const approval = await erin.approval(run.id);
    assert.deepEqual([approval.environment, approval.wait?.kind, approval.eligible, approval.you.mayApprove], ['production', 'approval', ['erin'], true]);

    await assert.rejects(admin.approve(run.id), (error: ApiError) => error.code === 'APPROVAL_REFUSED' && /admin started this run/.test(error.message));
    const state = await erin.approve(run.id, { comment: 'checked on staging' });
    assert.deepEqual(state.decisions.map((decision) => [decision.user, decision.decision]), [['erin', 'approve']]);
    current = await runUntil(run.id, (now) => isTerminalRun(now.status), 'the run to end');
    assert.equal(current.status, 'succeeded', current.reason ?? '');

    const [staging] = await containersOf('staging');
    const [production] = await containersOf('production');
    const release = (await admin.serviceReleases('shop'))[0]!;
    assert.deepEqual(release.serving.sort(), ['production', 'staging']);
    assert.ok(production!.Config.Image.endsWith(`@${release.release.digest}`), production!.Config.Image);
    assert.equal(production!.Config.Image, staging!.Config.Image, 'the same image reference, by digest');
    assert.equal(production!.Image, staging!.Image, 'the same image');
    const deployed = await until('the deployed notification', () => hook.requests.find((request) => request.headers['x-slipway-event'] === 'deployed'));
    assert.ok(verifyWebhookSignature(deployed.body, String(deployed.headers['x-slipway-signature-256']), HOOK_SECRET));
    assert.equal(JSON.parse(deployed.body.toString()).environment, 'production');
  });

  it('rolls production back to the release before last, and a forced promotion is in the audit log', async () => {
    commitVersion('2');
    const second = await admin.startRun({ service: 'shop' });
    await runUntil(second.id, (run) => run.status === 'waiting', 'the second release to wait at production');
    clock.now = new Date(clock.now.getTime() + 61 * 60_000);
    await server.engine.waker.tick();
    await runUntil(second.id, (run) => run.stages.some((stage) => stage.wait?.kind === 'approval'), 'the approval to be asked');
    await erin.approve(second.id);
    assert.equal((await runUntil(second.id, (run) => isTerminalRun(run.status), 'the second run to end')).status, 'succeeded');
    const [latest, first] = (await admin.serviceReleases('shop')).map((placement) => placement.release);

    const rollback = await erin.rollback('shop', { environment: 'production', reason: 'errors after version 2' });
    assert.deepEqual([rollback.from, rollback.to], [latest!.id, first!.id]);
    assert.equal((await runUntil(rollback.id, (run) => isTerminalRun(run.status), 'the rollback to end')).status, 'succeeded');
    const [production] = await containersOf('production');
    assert.ok(production!.Config.Image.endsWith(`@${first!.digest}`), 'production runs the first release again');
    assert.equal(await productionAnswers(), '1');
    await until('the rolled-back notification', () => hook.requests.some((request) => request.headers['x-slipway-event'] === 'rolled_back'));
    const [deployment] = await admin.deployments({ service: 'shop', environment: 'production', limit: 1 });
    assert.deepEqual([deployment!.kind, deployment!.actor, deployment!.note, deployment!.status], ['rollback', 'erin', 'errors after version 2', 'succeeded']);

    const forced = await admin.promote('shop', { release: latest!.id, environment: 'production', force: true, reason: 'the fix for errors is in version 2' });
    await runUntil(forced.id, (run) => run.status === 'waiting', 'the forced promotion to wait for approval');
    await erin.approve(forced.id);
    assert.equal((await runUntil(forced.id, (run) => isTerminalRun(run.status), 'the forced promotion to end')).status, 'succeeded');
    const audit = await admin.audit({ type: 'promotion.,rollback.,approval.' });
    assert.deepEqual(
      audit.slice(0, 4).map((event) => [event.type, event.actor, event.environment]),
      [
        ['approval.given', 'erin', 'production'],
        ['promotion.forced', 'admin', 'production'],
        ['rollback.requested', 'erin', 'production'],
        ['approval.given', 'erin', 'production'],
      ],
    );
    assert.equal((audit[1]!.data as { reason: string }).reason, 'the fix for errors is in version 2');
  });

  it('a rejection ends a run, an approval nobody gives expires, and a promotion outside its window waits for it', async () => {
    const toApproval = async (version: string): Promise<number> => {
      commitVersion(version);
      const run = await admin.startRun({ service: 'shop' });
      await runUntil(run.id, (now) => now.status === 'waiting', `release ${version} to wait at production`);
      clock.now = new Date(clock.now.getTime() + 61 * 60_000);
      await server.engine.waker.tick();
      await runUntil(run.id, (now) => now.stages.some((stage) => stage.wait?.kind === 'approval'), `release ${version}'s approval to be asked`);
      return run.id;
    };

    const rejected = await toApproval('3');
    await erin.reject(rejected, { comment: 'the changelog is missing' });
    const ended = await runUntil(rejected, (run) => isTerminalRun(run.status), 'the rejected run to end');
    assert.deepEqual([ended.status, ended.reason], ['rejected', 'stage deploy-production: rejected by erin: the changelog is missing']);

    const expiring = await toApproval('4');
    clock.now = new Date(clock.now.getTime() + 24 * 3_600_000 + 60_000);
    await server.engine.waker.tick();
    const expired = await runUntil(expiring, (run) => isTerminalRun(run.status), 'the unapproved run to expire');
    assert.equal(expired.status, 'expired');
    assert.match(expired.reason!, /no approval to enter production within 1d/);

    clock.now = new Date('2026-12-12T12:00:00Z'); // a Saturday
    const release = (await admin.serviceReleases('shop'))[0]!.release;
    const promotion = await erin.promote('shop', { release: release.id, environment: 'production' });
    await runUntil(promotion.id, (run) => run.stages.some((stage) => stage.wait?.kind === 'approval'), 'the promotion to ask for approval');
    await admin.approve(promotion.id, { comment: 'for Monday' });
    const held = await runUntil(promotion.id, (run) => run.stages.some((stage) => stage.wait?.kind === 'window'), 'the promotion to wait for its window');
    assert.equal(held.stages.find((stage) => stage.wait)!.wait!.until, '2026-12-14T08:00:00.000Z');
    clock.now = new Date('2026-12-14T08:00:30Z');
    await server.engine.waker.tick();
    assert.equal((await runUntil(promotion.id, (run) => isTerminalRun(run.status), 'the promotion to end')).status, 'succeeded');
    const [production] = await containersOf('production');
    assert.ok(production!.Config.Image.endsWith(`@${release.digest}`));
    assert.equal(await productionAnswers(), '4');
  });
});
