// How a release rolls out, as slipway.yml says it (src/config/rollout.ts): the environment's
// target, replicas, batches, drain and bake; the service's health check, aliases, replicas per
// environment and commands around the switch; the proxy. Defaults, units, and the errors a user
// reads for what cannot work.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatConfigErrors, parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/model.ts';
import { replicasFor } from '../../src/config/rollout.ts';

/** A config with the given environments and api's extra fields, one YAML line per string. */
function text(environments: string[], service: string[] = [], top: string[] = []): string {
  return [
    'pipeline:',
    '  - stage: test',
    '    run: npm test',
    'environments:',
    ...environments.map((line) => `  ${line}`),
    'services:',
    '  api:',
    '    repo: /repos/api.git',
    '    port: 3000',
    ...service.map((line) => `    ${line}`),
    ...top,
    '',
  ].join('\n');
}

function parsed(source: string): Config {
  const result = parseConfig(source, 'slipway.yml');
  if (!result.ok) assert.fail(formatConfigErrors(result.errors));
  return result.config;
}

/** The formatted error lines, which is what a user reads. */
function problems(source: string): string[] {
  const result = parseConfig(source, 'slipway.yml');
  assert.equal(result.ok, false, 'expected the config to be rejected');
  return result.ok ? [] : formatConfigErrors(result.errors).split('\n');
}

describe('rollout settings that parse', () => {
  test('nothing set: one replica, batches of one, a 30s drain, a 1m bake with 5 errors allowed, the proxy on 8480', () => {
    const config = parsed(text(['staging: {}']));
    const { target, command, replicas, batch, drain_timeout, bake, bake_errors } = config.environments.staging!;
    assert.deepEqual({ target, command, replicas, batch, drain_timeout, bake, bake_errors }, {
      target: 'container-host',
      command: undefined,
      replicas: 1,
      batch: 1,
      drain_timeout: 30_000,
      bake: 60_000,
      bake_errors: 5,
    });
    const api = config.services.api!;
    assert.deepEqual(
      { health: api.health, aliases: api.aliases, replicas: api.replicas, pre_deploy: api.pre_deploy, post_deploy: api.post_deploy, keep_images: api.keep_images },
      {
        health: { path: '/', intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 },
        aliases: [],
        replicas: undefined,
        pre_deploy: [],
        post_deploy: [],
        keep_images: 5,
      },
    );
    assert.deepEqual(config.proxy, { address: '127.0.0.1', port: 8480, route_ports: { from: 20000, to: 20999 } });
  });

  test('everything set, units read: milliseconds, seconds, minutes; a bake of 0 is none', () => {
    const config = parsed(
      text(
        ['staging: { replicas: 3, batch: 2, drain_timeout: 90s, bake: 200ms, bake_errors: 10 }', 'production: { bake: 0, drain_timeout: 2m }'],
        ['aliases: [payments, payments-v2]', 'pre_deploy: ./migrate up', 'post_deploy: [./smoke-test, ./check-links]', 'keep_images: 2'],
        ['proxy: { address: 0.0.0.0, port: 9000, route_ports: { from: 30000, to: 30099 } }'],
      ),
    );
    const { staging, production } = config.environments;
    assert.deepEqual([staging?.replicas, staging?.batch, staging?.drain_timeout, staging?.bake, staging?.bake_errors], [3, 2, 90_000, 200, 10]);
    assert.deepEqual([production?.bake, production?.drain_timeout], [0, 120_000]);
    const api = config.services.api!;
    assert.deepEqual(api.aliases, ['payments', 'payments-v2']);
    assert.deepEqual(api.pre_deploy, ['./migrate up'], 'one command is a list of one');
    assert.deepEqual(api.post_deploy, ['./smoke-test', './check-links']);
    assert.equal(api.keep_images, 2);
    assert.deepEqual(config.proxy, { address: '0.0.0.0', port: 9000, route_ports: { from: 30000, to: 30099 } });
  });

  test('replicas: the service\'s own number everywhere, or per environment, else the environment\'s', () => {
    const everywhere = parsed(text(['staging: { replicas: 3 }', 'production: {}'], ['replicas: 4']));
    const perEnvironment = parsed(text(['staging: { replicas: 3 }', 'production: {}'], ['replicas: { production: 2 }']));
    const of = (config: Config, environment: string) => replicasFor(config.services.api!, config.environments[environment]!, environment);
    assert.deepEqual([of(everywhere, 'staging'), of(everywhere, 'production')], [4, 4]);
    assert.deepEqual(perEnvironment.services.api!.replicas, { production: 2 });
    assert.deepEqual([of(perEnvironment, 'staging'), of(perEnvironment, 'production')], [3, 2]);
  });

  test('health as a path, or as the whole check with defaults for what it leaves out', () => {
    const path = parsed(text(['staging: {}'], ['health: /healthz']));
    assert.deepEqual(path.services.api!.health, { path: '/healthz', intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 });
    const full = parsed(text(['staging: {}'], ['health: { path: /ready, interval: 500ms, timeout: 1s, successes: 2, failures: 3 }']));
    assert.deepEqual(full.services.api!.health, { path: '/ready', intervalMs: 500, timeoutMs: 1000, successes: 2, failures: 3 });
    const partial = parsed(text(['staging: {}'], ['health: { interval: 2s }']));
    assert.deepEqual(partial.services.api!.health, { path: '/', intervalMs: 2000, timeoutMs: 2000, successes: 1, failures: 2 });
  });

  test('a command target: the image and what it runs, with a 10m timeout unless it says', () => {
    const config = parsed(text(['production:', '    target: command', '    command: { image: "localhost/kubectl:1", run: "./deploy.sh" }']));
    assert.equal(config.environments.production?.target, 'command');
    assert.deepEqual(config.environments.production?.command, { image: 'localhost/kubectl:1', run: './deploy.sh', timeout: 600_000 });
  });
});

describe('rollout settings that are refused', () => {
  test('a command target without its command, naming the path', () => {
    const [problem, ...more] = problems(text(['production:', '    target: command']));
    assert.deepEqual(more, []);
    assert.match(problem!, /^slipway\.yml:\d+:\d+: environments\.production\.command: target command needs "command" with an image and what to run$/);
  });

  test('a command on a container-host environment', () => {
    const [problem, ...more] = problems(text(['staging:', '    command: { image: busybox, run: "true" }']));
    assert.deepEqual(more, []);
    assert.match(problem!, /^slipway\.yml:\d+:\d+: environments\.staging\.command: "command" is only for target: command$/);
  });

  test('aliases that are no host names', () => {
    const found = problems(text(['staging: {}'], ['aliases: [Payments_API, -payments, ok-name]']));
    assert.equal(found.length, 2, found.join('\n'));
    assert.match(found[0]!, /services\.api\.aliases\.0: expected a host name such as payments-api/);
    assert.match(found[1]!, /services\.api\.aliases\.1: expected a host name such as payments-api/);
  });

  test('replicas, batches and errors below one; a health check with an unknown key or no leading slash', () => {
    const found = problems(text(['staging: { replicas: 0, batch: 1.5, bake_errors: 0 }'], ['replicas: { production: 0 }', 'health: { path: ready, retries: 3 }']));
    assert.deepEqual(found, [
      'slipway.yml:5:24: environments.staging.replicas: expected at least 1 replicas, got 0',
      'slipway.yml:5:34: environments.staging.batch: expected instances per batch as a whole number, got 1.5',
      'slipway.yml:5:52: environments.staging.bake_errors: expected at least 1 errors, got 0',
      'slipway.yml:10:29: services.api.replicas.production: expected at least 1 replicas, got 0',
      'slipway.yml:11:21: services.api.health.path: expected a path starting with /, got "ready"',
      'slipway.yml:11:28: services.api.health: unknown key "retries"',
    ]);
  });

  test('a bake that is no duration, and route ports the wrong way round', () => {
    const joined = problems(text(['staging: { bake: soon }'], [], ['proxy: { route_ports: { from: 20999, to: 20000 } }'])).join('\n');
    assert.match(joined, /environments\.staging\.bake: /);
    assert.match(joined, /proxy\.route_ports: expected from <= to/);
  });
});
