// The Engine API builder against the real engine and the real local registry: build and push,
// report a failed build, a registry or engine that cannot be reached, and a cancel clearly. The
// container-host deployer's own tests are in deployer-container-host.test.ts.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Docker from 'dockerode';
import { EngineApiBuilder } from '../../src/builders/engine-api/builder.ts';
import { retryStorageRace } from '../../src/docker/api.ts';
import type { ContainerEngine } from '../../src/docker/connect.ts';
import { requireBusybox, requireRegistry } from '../support/engine.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `test-${suffix}`;
const PORT = 8080;

let engine: ContainerEngine;
let registry: string;
let busybox: string;
let repository: string;
let builder: EngineApiBuilder;
const contexts: string[] = [];
const pushed: { name: string; digest: string }[] = [];

interface Captured {
  lines: string[];
  log: (line: string) => void;
}

function capture(): Captured {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-build-'));
  contexts.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const SERVE = ['sh', '-c', `trap 'exit 0' TERM; httpd -f -p ${PORT} -h /www & wait`];

/** A web app that serves /version and /healthz. */
function app(version: string): Record<string, string> {
  return {
    Dockerfile: [`FROM ${busybox}`, 'COPY www /www', `CMD ${JSON.stringify(SERVE)}`, ''].join('\n'),
    'www/version': `${version}\n`,
    'www/healthz': 'ok\n',
  };
}

async function build(files: Record<string, string>, tag: string, log = capture().log, signal = new AbortController().signal, aliases: string[] = []) {
  return builder.build(
    { contextDir: context(files), dockerfile: 'Dockerfile', repository, tag, aliases, labels: { 'slipway.owner': OWNER } },
    log,
    signal,
  );
}

async function timed<T>(what: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await action();
  console.log(`${what}: ${Math.round(performance.now() - started)} ms`);
  return result;
}

describe('engine-api builder', { timeout: 300_000 }, () => {
  before(async () => {
    ({ engine, image: busybox } = await requireBusybox());
    registry = await requireRegistry();
    repository = `${registry}/slipway-test-${suffix}`;
    builder = new EngineApiBuilder(engine);
  });

  after(async () => {
    // A listing that loses Podman's race with another test's removal would leave them all behind.
    const images = await retryStorageRace(() => engine.docker.listImages({ filters: { label: [`slipway.owner=${OWNER}`] } }));
    for (const image of images) await retryStorageRace(() => engine.docker.getImage(image.Id).remove({ force: true })).catch(() => {});
    for (const { name, digest } of pushed) await fetch(`http://${registry}/v2/${name}/manifests/${digest}`, { method: 'DELETE' }).catch(() => {});
    for (const dir of contexts) rmSync(dir, { recursive: true, force: true });
  });

  it('builds and pushes an image, honouring .dockerignore, and reports the registry digest', async () => {
    const files = {
      ...app('v1'),
      'Dockerfile': [`FROM ${busybox}`, 'COPY . /context', 'RUN test ! -e /context/secret.txt && test ! -e /context/notes/drop.md && test -e /context/notes/keep.md', 'COPY www /www', `CMD ${JSON.stringify(SERVE)}`, ''].join('\n'),
      '.dockerignore': '# local only\nsecret.txt\nnotes/\n!notes/keep.md\n',
      'secret.txt': 'do not send',
      'notes/drop.md': 'dropped',
      'notes/keep.md': 'kept',
    };
    const logs = capture();
    const result = await timed('build+push v1', () => build(files, 'v1', logs.log, undefined, ['v1.0.0']));
    assert.ok(result.ok, result.ok ? '' : `${result.error}\n${logs.lines.join('\n')}`);
    pushed.push({ name: repository.slice(registry.length + 1), digest: result.value.digest });
    assert.equal(result.value.image, `${repository}:v1`);
    assert.match(result.value.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(logs.lines.some((line) => line.includes('COPY www /www')), 'build output is streamed to the log');

    for (const tag of ['v1', 'v1.0.0']) {
      const head = await fetch(`http://${repository.replace(registry, `${registry}/v2`)}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      });
      assert.equal(head.headers.get('docker-content-digest'), result.value.digest, `tag ${tag} names the built image`);
    }
  });

  it('reports a failing RUN step', async () => {
    const result = await build({ Dockerfile: `FROM ${busybox}\nRUN echo compiling && exit 7\n` }, 'broken-run');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^image build failed: building at STEP "RUN echo compiling && exit 7": .*exit status 7/);
  });

  it('reports a Dockerfile syntax error', async () => {
    const result = await build({ Dockerfile: `FROM ${busybox}\nCOPPY www /www\n` }, 'broken-syntax');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^image build failed: .*Unknown instruction: "COPPY"$/);
  });

  it('reports a missing Dockerfile', async () => {
    const result = await build({ 'www/version': 'v0' }, 'no-dockerfile');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.error, /^Dockerfile Dockerfile not found in build context /);
  });

  it('reports a registry that is down', async () => {
    const down = `127.0.0.1:5999/slipway-test-${suffix}`;
    const result = await builder.build(
      { contextDir: context(app('v1')), dockerfile: 'Dockerfile', repository: down, tag: 'v1', aliases: [], labels: { 'slipway.owner': OWNER } },
      () => {},
      new AbortController().signal,
    );
    assert.deepEqual(result, { ok: false, error: 'push to 127.0.0.1:5999 failed: the registry could not be reached (connection refused)' });
  });

  it('reports an engine that cannot be reached', async () => {
    const gone: ContainerEngine = { docker: new Docker({ socketPath: '/nonexistent/engine.sock' }), name: 'docker 0', endpoint: '/nonexistent/engine.sock' };
    const built = await new EngineApiBuilder(gone).build(
      { contextDir: context(app('v1')), dockerfile: 'Dockerfile', repository, tag: 'unreachable', aliases: [], labels: {} },
      () => {},
      new AbortController().signal,
    );
    assert.match(built.ok ? '' : built.error, /^the container engine at \/nonexistent\/engine\.sock could not be reached \(.*ENOENT/);
  });

  it('cancels a build', async () => {
    const controller = new AbortController();
    const result = await build(
      { Dockerfile: `FROM ${busybox}\nRUN echo started && sleep 5\n` },
      'slow',
      (line) => {
        if (line === 'started') controller.abort();
      },
      controller.signal,
    );
    assert.deepEqual(result, { ok: false, error: 'build cancelled' });
  });
});
