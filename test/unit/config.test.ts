import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatConfigErrors, loadConfigFile, parseConfig, type ConfigResult } from '../../src/config/load.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** One YAML line per argument, so a test reads its own line numbers. */
const lines = (...text: string[]) => `${text.join('\n')}\n`;

const EXAMPLE = lines(
  'registry: 127.0.0.1:5000',
  'pipeline:',
  '  - stage: quality',
  '    run: "{{ service.lint }}"',
  '  - stage: test',
  '    run: "{{ service.test }}"',
  '    timeout: 10m',
  '  - stage: build',
  '  - stage: deploy',
  '    environment: staging',
  'environments:',
  '  staging:',
  '    target: container-host',
  'services:',
  '  payment:',
  '    repo: ./examples/payment.git',
  '    branch: main',
  '    toolchain: localhost/node:20',
  '    lint: npm run lint',
  '    test: npm test',
  '    port: 3000',
  '    health: /healthz',
);

/** A minimal valid head: a pipeline that neither builds nor deploys, so services need little. */
const TEST_ONLY = ['pipeline:', '  - stage: test', '    run: npm test'];

function valid(result: ConfigResult) {
  if (!result.ok) assert.fail(formatConfigErrors(result.errors));
  return result.config;
}

/** The formatted error lines, which is what a user reads. */
function problems(text: string): string[] {
  const result = parseConfig(text, 'slipway.yml');
  assert.equal(result.ok, false, 'expected the config to be rejected');
  return result.ok ? [] : formatConfigErrors(result.errors).split('\n');
}

describe('a valid config', () => {
  test('parses with defaults applied and stage kinds inferred', () => {
    const config = valid(parseConfig(EXAMPLE, join(root, 'slipway.yml')));
    assert.equal(config.registry, '127.0.0.1:5000');
    assert.deepEqual(config.pipeline, [
      { name: 'quality', kind: 'command', run: '{{ service.lint }}', environment: null, suite: null, readyTimeoutMs: null, timeoutMs: 30 * 60_000, resources: null },
      { name: 'test', kind: 'command', run: '{{ service.test }}', environment: null, suite: null, readyTimeoutMs: null, timeoutMs: 10 * 60_000, resources: null },
      { name: 'build', kind: 'build', run: null, environment: null, suite: null, readyTimeoutMs: null, timeoutMs: 30 * 60_000, resources: null },
      { name: 'deploy', kind: 'deploy', run: null, environment: 'staging', suite: null, readyTimeoutMs: null, timeoutMs: 10 * 60_000, resources: null },
    ]);
    assert.deepEqual(config.environments, {
      staging: { target: 'container-host', replicas: 1, batch: 1, drain_timeout: 30_000, bake: 60_000, bake_errors: 5, health_timeout: 60_000, variables: {}, secrets: [], windows: [], freezes: [], rollback_approval: false },
    });
    assert.deepEqual(config.services.payment, {
      repo: join(root, 'examples/payment.git'),
      branch: 'main',
      path: '.',
      depends_on_paths: [],
      schedules: [],
      toolchain: 'localhost/node:20',
      lint: 'npm run lint',
      test: 'npm test',
      dockerfile: 'Dockerfile',
      context: '.',
      port: 3000,
      health: { path: '/healthz', intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 },
      aliases: [],
      pre_deploy: [],
      post_deploy: [],
      keep_images: 5,
      requires: [],
      test_suite: false,
      variables: {},
      secrets: {},
      vars: {},
      stages: {},
    });
    assert.deepEqual([config.deploy_tags, config.resources, config.logs], [[], undefined, { line: 64 * 1024, stage: 50 * 1024 * 1024 }]);
  });

  test('reads triggers: forges with secrets from the environment, schedules, polling, concurrency, monorepo paths', () => {
    process.env.SLIPWAY_TEST_GITHUB_TOKEN = 'ghp_from_env';
    try {
      const config = valid(
        parseConfig(
          lines(
            ...TEST_ONLY,
            'server:',
            '  url: https://ci.example.com',
            'forges:',
            '  github:',
            '    token: { env: SLIPWAY_TEST_GITHUB_TOKEN }',
            '    secret: forge-wide',
            '    repositories:',
            '      acme/shop: { secret: only-shop }',
            '  gitea:',
            '    url: https://git.example.com',
            'concurrency:',
            '  branches: { "release/*": parallel, "*": queue }',
            'schedules:',
            '  - name: weekly-production',
            '    cron: "0 3 * * 1"',
            '    timezone: Europe/Berlin',
            '    services: [payment]',
            'services:',
            '  payment:',
            '    repo: https://github.com/acme/shop.git',
            '    path: services/payment/',
            '    depends_on_paths: [libs/shared]',
            '    poll: 2m',
            '    concurrency: { pull_requests: queue }',
            '    schedules:',
            '      - name: nightly',
            '        cron: "30 1 * * *"',
            '        variables: { LEVEL: full }',
          ),
          'slipway.yml',
        ),
      );
      assert.equal(config.server.url, 'https://ci.example.com');
      assert.equal(config.forges.github?.token, 'ghp_from_env');
      assert.equal(config.forges.github?.secret, 'forge-wide');
      assert.deepEqual(config.forges.github?.repositories, { 'acme/shop': { secret: 'only-shop' } });
      assert.equal(config.forges.gitea?.url, 'https://git.example.com');
      assert.deepEqual(config.schedules, [{ name: 'weekly-production', cron: '0 3 * * 1', timezone: 'Europe/Berlin', services: ['payment'], variables: {} }]);
      const payment = config.services.payment!;
      assert.equal(payment.path, 'services/payment', 'a trailing slash is dropped');
      assert.deepEqual(payment.depends_on_paths, ['libs/shared']);
      assert.equal(payment.poll, 120_000);
      assert.deepEqual(payment.schedules, [{ name: 'nightly', cron: '30 1 * * *', timezone: 'UTC', variables: { LEVEL: 'full' } }]);
      assert.deepEqual(payment.concurrency, { pull_requests: 'queue' });
    } finally {
      delete process.env.SLIPWAY_TEST_GITHUB_TOKEN;
    }
  });

  test('fills in branch, path and health when left out', () => {
    const config = valid(parseConfig(lines(...TEST_ONLY, 'services:', '  api:', '    repo: https://example.com/api.git'), 'slipway.yml'));
    const api = config.services.api!;
    assert.equal(api.branch, 'main');
    assert.equal(api.path, '.');
    assert.deepEqual(api.health, { path: '/', intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 });
    assert.equal(api.port, undefined);
  });

  test('reads durations in seconds, minutes and hours, and bare numbers as seconds', () => {
    const config = valid(
      parseConfig(
        lines(
          'pipeline:',
          ...['90s', '1.5h', '250ms', '45'].flatMap((timeout, index) => [`  - stage: s${index}`, '    run: "true"', `    timeout: ${timeout}`]),
          'services: {}',
        ),
        'slipway.yml',
      ),
    );
    assert.deepEqual(
      config.pipeline.map((stage) => stage.timeoutMs),
      [90_000, 5_400_000, 250, 45_000],
    );
  });

  test('resolves a relative repo against the config file and leaves URLs alone', async () => {
    const remote = [
      'https://github.com/acme/api.git',
      'ssh://git@example.com/acme/api.git',
      'git://example.com/acme/api.git',
      'file:///srv/git/api.git',
      'git@github.com:acme/api.git',
      'example.com:acme/api.git',
    ];
    const local = { rel: 'repos/rel.git', dot: './dot.git', up: '../up.git', abs: '/srv/git/abs.git' };
    const dir = join(root, 'project');
    const file = join(dir, 'slipway.yml');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      file,
      lines(
        ...TEST_ONLY,
        'services:',
        ...remote.flatMap((repo, index) => [`  remote${index}:`, `    repo: "${repo}"`]),
        ...Object.entries(local).flatMap(([name, repo]) => [`  ${name}:`, `    repo: ${repo}`]),
      ),
    );
    const result = await loadConfigFile(file);
    const config = valid(result);
    assert.equal(result.ok && result.file, file);
    remote.forEach((repo, index) => assert.equal(config.services[`remote${index}`]?.repo, repo));
    assert.equal(config.services.rel?.repo, join(dir, 'repos/rel.git'));
    assert.equal(config.services.dot?.repo, join(dir, 'dot.git'));
    assert.equal(config.services.up?.repo, join(root, 'up.git'));
    assert.equal(config.services.abs?.repo, '/srv/git/abs.git');
  });

  test('expands anchors and merge keys', () => {
    const config = valid(
      parseConfig(
        lines(
          ...TEST_ONLY,
          'services:',
          '  api: &base',
          '    repo: https://example.com/api.git',
          '    branch: trunk',
          '  web:',
          '    <<: *base',
          '    repo: https://example.com/web.git',
        ),
        'slipway.yml',
      ),
    );
    assert.equal(config.services.web?.branch, 'trunk');
    assert.equal(config.services.web?.repo, 'https://example.com/web.git');
  });
});

describe('the demo', () => {
  test("examples/demo/slipway.yml parses: staging, then production behind a deployer's approval", async () => {
    const loaded = await loadConfigFile(new URL('../../examples/demo/slipway.yml', import.meta.url).pathname);
    assert.ok(loaded.ok, loaded.ok ? '' : formatConfigErrors(loaded.errors));
    assert.deepEqual(Object.keys(loaded.config.environments), ['staging', 'production']);
    assert.deepEqual(loaded.config.environments.production?.approval?.rules, [{ roles: ['deployer'], users: [], count: 1 }]);
    assert.deepEqual(loaded.config.services.greeter?.requires, [{ name: 'hello', release: null }], 'greeter is integration-tested beside hello');
  });
});

describe('errors point at file:line:column', () => {
  test('YAML syntax error', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    health: /healthz', '   health: /healthz')), [
      'slipway.yml:22:4: All mapping items must start at the same column',
    ]);
    assert.deepEqual(problems(lines(...TEST_ONLY, 'services:', '  api:', '    repo: "https://example.com/api.git')), [
      'slipway.yml:7:1: Missing closing "quote',
    ]);
  });

  test('duplicate key', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    port: 3000\n', '    port: 3000\n    port: 4000\n')), [
      'slipway.yml:22:5: services.payment: duplicate key "port"',
    ]);
  });

  test('wrong type', () => {
    assert.deepEqual(problems(EXAMPLE.replace('port: 3000', 'port: abc')), [
      'slipway.yml:21:11: services.payment.port: expected a number, got "abc"',
    ]);
  });

  test('unknown key (a typo) lists the keys that are allowed', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    lint: npm', '    lnt: npm')), [
      'slipway.yml:19:5: services.payment: unknown key "lnt" (expected one of: repo, branch, path, depends_on_paths, poll, schedules, concurrency, toolchain, lint, test, dockerfile, context, port, health, aliases, replicas, pre_deploy, post_deploy, keep_images, requires, test_suite, variables, secrets, deploy_tags, vars, stages)',
    ]);
  });

  test('missing required key points at the mapping that lacks it', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    repo: ./examples/payment.git\n', '')), [
      'slipway.yml:15:3: services.payment: missing required key "repo"',
    ]);
    assert.deepEqual(problems(lines(...TEST_ONLY)), ['slipway.yml:1:1: missing required key "services"']);
  });

  test('deploy stage naming an environment that is not defined', () => {
    assert.deepEqual(problems(EXAMPLE.replace('environment: staging', 'environment: production')), [
      'slipway.yml:10:18: pipeline.3.environment: environment production is not defined under "environments"',
    ]);
  });

  test('duplicate stage name', () => {
    assert.deepEqual(problems(EXAMPLE.replace('stage: test', 'stage: quality')), [
      'slipway.yml:5:12: pipeline.1.stage: stage quality appears twice in the pipeline',
    ]);
  });

  test('build stage without a registry', () => {
    assert.deepEqual(problems(EXAMPLE.replace('registry: 127.0.0.1:5000\n', '')), [
      'slipway.yml:7:5: pipeline.2: a build stage needs a top-level "registry"',
    ]);
  });

  test('service without a port while the pipeline deploys', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    port: 3000\n', '')), [
      'slipway.yml:15:3: services.payment: service payment needs "port": the pipeline deploys it',
    ]);
  });

  test('override of a stage the pipeline lacks', () => {
    assert.deepEqual(problems(EXAMPLE.replace('    health: /healthz\n', '    health: /healthz\n    stages:\n      lint:\n        skip: true\n')), [
      'slipway.yml:24:7: services.payment.stages.lint: the pipeline has no stage lint',
    ]);
  });

  test('bad duration', () => {
    assert.deepEqual(problems(EXAMPLE.replace('timeout: 10m', 'timeout: 10 minutes')), [
      'slipway.yml:7:14: pipeline.1.timeout: expected a duration such as 30s, 10m, 1h or 2d, got "10 minutes"',
    ]);
    assert.deepEqual(problems(EXAMPLE.replace('timeout: 10m', 'timeout: true')), [
      'slipway.yml:7:14: pipeline.1.timeout: expected a duration such as 30s, 10m, 1h or 2d, got true',
    ]);
  });

  test('bad name: upper case service name', () => {
    assert.deepEqual(problems(EXAMPLE.replace('  payment:', '  Payment:')), [
      `slipway.yml:15:3: services.Payment: expected a service name of lower-case letters, digits, '-' and '_', got "Payment"`,
    ]);
  });

  test('a stage that is neither command, build nor deploy', () => {
    assert.deepEqual(problems(lines('pipeline:', '  - stage: lint', 'services: {}')), [
      'slipway.yml:2:5: pipeline.0: stage lint needs "run" (a command), "environment" (a deploy) or "type: build"',
    ]);
  });

  test('empty file', () => {
    assert.deepEqual(problems(''), ['slipway.yml:1:1: the file is empty: expected a mapping with "pipeline" and "services"']);
    assert.deepEqual(problems('# nothing yet\n'), ['slipway.yml:1:1: the file is empty: expected a mapping with "pipeline" and "services"']);
  });

  test('a list at the top instead of a mapping', () => {
    assert.deepEqual(problems(lines('- stage: test', '- stage: build')), [
      'slipway.yml:1:1: expected a mapping at the top of the file, got a list',
    ]);
  });

  test('an alias with no anchor', () => {
    assert.deepEqual(problems(lines(...TEST_ONLY, 'services: *all')), ['slipway.yml:4:11: unknown alias *all: define &all above it']);
  });

  test('every issue is reported, sorted by line', () => {
    const text = lines(
      'pipeline:',
      '  - stage: test',
      '    run: npm test',
      '    timeout: soon',
      'services:',
      '  payment:',
      '    branch: main',
      '    port: 99999',
      '    health: healthz',
      '    variables:',
      '      LEVEL: [1, 2]',
      'extra: 1',
    );
    assert.deepEqual(problems(text), [
      'slipway.yml:4:14: pipeline.0.timeout: expected a duration such as 30s, 10m, 1h or 2d, got "soon"',
      'slipway.yml:6:3: services.payment: missing required key "repo"',
      'slipway.yml:8:11: services.payment.port: expected a number at most 65535, got 99999',
      'slipway.yml:9:13: services.payment.health: expected a path starting with /, got "healthz"',
      'slipway.yml:11:7: services.payment.variables.LEVEL: expected a string, a number or a boolean, got a list',
      'slipway.yml:12:1: unknown key "extra" (expected one of: registry, pipeline, environments, services, infrastructure, server, forges, concurrency, schedules, deploy_tags, resources, logs, proxy, notifications, previews)',
    ]);
  });

  test('a missing file', async () => {
    const file = join(root, 'absent', 'slipway.yml');
    assert.deepEqual(await loadConfigFile(file), {
      ok: false,
      errors: [{ file, line: 1, column: 1, message: `config file not found: ${file}` }],
    });
  });

  test('a directory instead of a file', async () => {
    const result = await loadConfigFile(root);
    assert.deepEqual(result, { ok: false, errors: [{ file: root, line: 1, column: 1, message: `expected a file, got a directory: ${root}` }] });
  });
});

test('formatConfigErrors writes one file:line:column line per error', () => {
  assert.equal(
    formatConfigErrors([
      { file: 'slipway.yml', line: 12, column: 5, message: 'services.payment.port: expected a number, got "abc"' },
      { file: 'slipway.yml', line: 14, column: 3, message: 'services.web: missing required key "repo"' },
    ]),
    'slipway.yml:12:5: services.payment.port: expected a number, got "abc"\nslipway.yml:14:3: services.web: missing required key "repo"',
  );
  assert.equal(formatConfigErrors([]), '');
});

describe('trigger settings that are wrong', () => {
  test('name the place and what was expected', () => {
    delete process.env.SLIPWAY_TEST_MISSING;
    assert.deepEqual(
      problems(
        lines(
          ...TEST_ONLY,
          'forges:',
          '  github:',
          '    token: { env: SLIPWAY_TEST_MISSING }',
          '  bitbucket: {}',
          'concurrency:',
          '  branches: sometimes',
          'schedules:',
          '  - name: broken',
          '    cron: "61 * * * *"',
          '  - name: elsewhere',
          '    cron: "0 3 * * *"',
          '    timezone: Mars/Olympus',
          'services:',
          '  api:',
          '    repo: https://example.com/api.git',
          '    path: ../outside',
          '    depends_on_paths: [/etc]',
        ),
      ),
      [
        'slipway.yml:6:5: forges.github.token: environment variable SLIPWAY_TEST_MISSING is not set',
        'slipway.yml:7:3: forges: unknown key "bitbucket" (expected one of: github, gitlab, gitea)',
        'slipway.yml:9:13: concurrency.branches: expected one of queue, supersede, parallel, or branch patterns mapped to them, got "sometimes"',
        'slipway.yml:12:11: schedules.0.cron: invalid cron expression "61 * * * *": invalid value for minute: 61',
        'slipway.yml:15:15: schedules.1.timezone: unknown time zone Mars/Olympus',
        'slipway.yml:19:11: services.api.path: expected a path inside the repository (relative, without "..")',
        'slipway.yml:20:24: services.api.depends_on_paths.0: expected a path inside the repository (relative, without "..")',
      ],
    );
  });

  test('a schedule naming an unknown service, and a gitea forge without its address', () => {
    assert.deepEqual(
      problems(
        lines(
          ...TEST_ONLY,
          'forges:',
          '  gitea: { token: abc }',
          'schedules:',
          '  - name: nightly',
          '    cron: "0 3 * * *"',
          '    services: [nobody]',
          'services:',
          '  api:',
          '    repo: https://example.com/api.git',
        ),
      ),
      [
        'slipway.yml:5:3: forges.gitea: gitea has no public address to default to: set "url"',
        'slipway.yml:9:16: schedules.0.services.0: service nobody is not defined under "services"',
      ],
    );
  });
});

describe('previews', () => {
  const parse = (extra: string) => parseConfig(`registry: localhost:5000\npipeline:\n  - stage: build\n  - stage: preview\n    type: preview\n${extra}services: { api: { repo: /r, port: 3000 } }\n`, 'slipway.yml');

  test('previews live 72 hours, ten at a time, with every deployable service, unless set', () => {
    const parsed = parse('');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.config.previews, { ttlMs: 72 * 3_600_000, max: 10, services: 'all' });
    assert.equal(parsed.config.pipeline[1]?.kind, 'preview');
    const set = parse('previews: { ttl: 1d, max: 3, services: required }\n');
    assert.ok(set.ok);
    assert.deepEqual(set.config.previews, { ttlMs: 86_400_000, max: 3, services: 'required' });
  });

  test('wrong settings are refused where they are written', () => {
    const messages = (extra: string) => {
      const parsed = parse(extra);
      return parsed.ok ? [] : parsed.errors.map((error) => error.message);
    };
    assert.match(messages('previews: { max: 0 }\n').join('\n'), /previews\.max: expected at least 1 preview/);
    assert.match(messages('previews: { services: some }\n').join('\n'), /previews\.services: expected one of all, required/);
    assert.match(messages('previews: { ttl: forever }\n').join('\n'), /previews\.ttl: expected a duration/);
    const withRun = parseConfig('pipeline:\n  - stage: preview\n    type: preview\n    run: make\nservices: { api: { repo: /r } }\n', 'slipway.yml');
    assert.ok(!withRun.ok && withRun.errors.some((error) => /preview stage preview takes no "run"/.test(error.message)));
  });
});
