// Attack: start a run with variables that a loader, shell or interpreter obeys before the
// pipeline's own commands run (LD_PRELOAD, NODE_OPTIONS, BASH_ENV, PATH, GIT_*, PYTHON*...),
// turning "pick values for the pipeline" into "run my code in every step". Before, the run
// started with them. Now the API answers 400 naming the variable, the CLI refuses before it
// calls the server, and nothing is started.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { slipway } from '../support/cli.ts';
import { startLocalServer, type LocalServer } from '../support/server.ts';

const ATTACKS: Record<string, string> = {
  LD_PRELOAD: '/workspace/evil.so',
  LD_LIBRARY_PATH: '/workspace',
  DYLD_INSERT_LIBRARIES: '/workspace/evil.dylib',
  NODE_OPTIONS: '--require /workspace/evil.js',
  BASH_ENV: '/workspace/evil.sh',
  ENV: '/workspace/evil.sh',
  PATH: '/workspace/bin:/usr/bin:/bin',
  GIT_SSH_COMMAND: 'sh /workspace/evil.sh',
  GIT_CONFIG_GLOBAL: '/workspace/evil.gitconfig',
  PYTHONPATH: '/workspace',
  PYTHONSTARTUP: '/workspace/evil.py',
  PERL5OPT: '-Mevil',
  RUBYOPT: '-revil',
  JAVA_TOOL_OPTIONS: '-javaagent:/workspace/evil.jar',
  BASH_FUNC_echo: '() { sh /workspace/evil.sh; }',
  ld_preload: '/workspace/evil.so',
  SLIPWAY_COMMIT_SHA: '0000000000000000000000000000000000000000',
};

let server: LocalServer;

before(async () => {
  server = await startLocalServer();
});
after(() => server.close());

describe('attack: run variables that change what the steps run', () => {
  it('refuses each through the API with a 400 naming it, and starts nothing', async () => {
    for (const [name, value] of Object.entries(ATTACKS)) {
      const answer = await server.request('POST', '/api/runs', { body: { service: 'api', variables: { GREETING: 'hello', [name]: value } } });
      assert.equal(answer.status, 400, `${name}: ${answer.text}`);
      assert.equal(answer.body.error.code, 'VARIABLE_FORBIDDEN', name);
      assert.ok(answer.body.error.message.startsWith(`body.variables.${name}: a run may not set ${name}`), answer.body.error.message);
    }
    assert.deepEqual((await server.request('GET', '/api/runs')).body, [], 'no run was started');
  });

  it('refuses them in the CLI before anything reaches the server', async () => {
    const result = await slipway(['run', 'api', '--var', 'GREETING=hello', '--var', 'NODE_OPTIONS=--require /workspace/evil.js'], { server: server.url });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--var NODE_OPTIONS=--require \/workspace\/evil\.js: a run may not set NODE_OPTIONS: node obeys it/);
    assert.deepEqual((await server.request('GET', '/api/runs')).body, []);
  });

  it('still takes ordinary variables', async () => {
    const answer = await server.request('POST', '/api/runs', { body: { service: 'api', variables: { GREETING: 'hello', LOG_LEVEL: 'debug', PATHS_TO_TEST: 'src' } } });
    assert.equal(answer.status, 201, answer.text);
    assert.deepEqual(answer.body.variables, { GREETING: 'hello', LOG_LEVEL: 'debug', PATHS_TO_TEST: 'src' });
  });
});
