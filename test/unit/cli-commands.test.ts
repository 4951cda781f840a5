// The CLI loads only the module of the command given (src/cli/commands.ts): each module's list
// of commands must be what it registers, and a command line that names no listed command must
// get every module, so that help and commander's "did you mean" see them all.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES, commandName, modulesFor, type CommandContext } from '../../src/cli/commands.ts';

const context: CommandContext = {
  client: () => assert.fail('registering calls no client'),
  serverUrl: () => 'http://127.0.0.1:1',
};

describe('the CLI command modules', () => {
  it('list exactly the top-level commands each registers, in the order help shows them', async () => {
    for (const module of COMMAND_MODULES) {
      const program = new Command();
      (await module.load())(program, context);
      assert.deepEqual(program.commands.map((command) => command.name()), module.commands);
    }
  });

  it('name each command once', () => {
    const names = COMMAND_MODULES.flatMap((module) => module.commands);
    assert.equal(new Set(names).size, names.length);
  });
});

describe('the command a command line names', () => {
  it('is its first word, after --server and its value only', () => {
    assert.equal(commandName(['runs', '--json']), 'runs');
    assert.equal(commandName(['--server', 'http://ci:7420', 'runs', '--json']), 'runs');
    assert.equal(commandName(['--server=http://ci:7420', 'user', 'list']), 'user');
    assert.equal(commandName(['--server', 'runs']), undefined, 'the value of --server is no command');
  });

  it('is none with another option first, or no word at all', () => {
    for (const args of [[], ['--help'], ['-h', 'runs'], ['-V'], ['--bogus', 'runs'], ['--server']]) assert.equal(commandName(args), undefined, args.join(' '));
  });
});

describe('the modules a command line loads', () => {
  const runsModule = COMMAND_MODULES.find((module) => module.commands.includes('runs'));

  it('are the one registering its command', () => {
    assert.deepEqual(modulesFor(['--server', 'http://ci:7420', 'runs', '--json'], ['up']), [runsModule]);
    assert.deepEqual(modulesFor(['show', '--help'], ['up']), [runsModule]);
  });

  it("are none for the caller's own command", () => {
    assert.deepEqual(modulesFor(['up', '--port', '0'], ['up']), []);
  });

  it('are every one for help, a mistyped command, or no command', () => {
    for (const args of [[], ['--help'], ['help', 'runs'], ['rnus'], ['-V']]) assert.equal(modulesFor(args, ['up']), COMMAND_MODULES, args.join(' '));
  });
});
