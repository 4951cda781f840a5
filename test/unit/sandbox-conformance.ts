// The Sandbox contract (src/sandboxes/sandbox.ts) as the integration stage relies on it: members
// started and ready, a member never ready or exiting named in the failure with its lines still
// readable, everything gone after remove() (twice is fine), sandboxes side by side without
// colliding, a cancel. Every sandbox runs this suite: the fake in test/unit/sandbox-fake.test.ts,
// the container engine's in test/e2e/sandbox-container.test.ts. A harness whose members really
// run also shows they call each other by name and alias, and never another sandbox's members.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SandboxFailure, type Sandbox, type SandboxMember, type SandboxSpec } from '../../src/sandboxes/sandbox.ts';

export interface SandboxHarness {
  sandbox: Sandbox;
  /** A member that answers HTTP on its port at once. */
  ready(name: string, aliases?: string[]): SandboxMember;
  /** A member that prints `lines`, keeps running and never passes its check. */
  neverReady(name: string, lines: string[]): SandboxMember;
  /** A member that prints `lines` and exits with an error. */
  exiting(name: string, lines: string[]): SandboxMember;
  /** Real members only: whether `from` in sandbox `id` gets an answer from http://host:port/. */
  reaches?(id: string, from: string, host: string, port: number): Promise<boolean>;
  /** The port `ready` members answer on. */
  port: number;
  cleanup(): Promise<void>;
}

let stages = 0;
function spec(members: SandboxMember[], readyTimeoutMs = 60_000): SandboxSpec {
  stages += 1;
  const stageId = 900_000 + Math.floor(Math.random() * 90_000) + stages;
  return { id: `conf${stageId}`, runId: stageId, stageId, members, readyTimeoutMs };
}

export function sandboxConformance(name: string, setup: () => Promise<SandboxHarness>): void {
  describe(`Sandbox conformance: ${name}`, { timeout: 300_000 }, () => {
    let harness: SandboxHarness;
    let sandbox: Sandbox;
    const made: string[] = [];
    const lines: string[] = [];
    const log = (text: string) => void lines.push(text);
    const start = (of: SandboxSpec, signal = new AbortController().signal) => {
      made.push(of.id);
      return sandbox.start(of, log, signal);
    };

    before(async () => {
      harness = await setup();
      sandbox = harness.sandbox;
    });

    after(async () => {
      for (const id of made) await sandbox?.remove(id).catch(() => undefined);
      await harness?.cleanup();
    });

    test('starts every member, answers a network and their addresses, lists the sandbox, and remove() takes it all away (twice is fine)', async () => {
      const of = spec([harness.ready('api', ['api-alias']), harness.ready('db')]);
      const { network, addresses } = await start(of);
      assert.ok(network.length > 0);
      assert.deepEqual(Object.keys(addresses).sort(), ['api', 'db']);
      for (const address of Object.values(addresses)) assert.match(address, new RegExp(`^(\\d+\\.){3}\\d+:${harness.port}$|^\\[[0-9a-f:]+\\]:${harness.port}$`));
      if (harness.reaches) assert.equal((await fetch(`http://${addresses.api}/`)).status, 200, 'this host reaches a member at its address');
      assert.deepEqual(
        (await sandbox.list()).filter((info) => info.id === of.id),
        [{ id: of.id, runId: of.runId, stageId: of.stageId }],
      );
      if (harness.reaches) {
        assert.equal(await harness.reaches(of.id, 'db', 'api', harness.port), true, 'a member calls another by name');
        assert.equal(await harness.reaches(of.id, 'db', 'api-alias', harness.port), true, 'and by alias');
      }
      await sandbox.remove(of.id);
      await sandbox.remove(of.id);
      assert.equal((await sandbox.list()).some((info) => info.id === of.id), false);
      assert.deepEqual(await sandbox.lastLines(of.id, 'api', 10), []);
    });

    test('a member never ready fails the start, named, and its lines stay readable until remove()', async () => {
      // Long enough for api to be ready under a loaded machine: only stuck may be the one named.
      const of = spec([harness.ready('api'), harness.neverReady('stuck', ['first line', 'last line'])], 10_000);
      await assert.rejects(start(of), (error: unknown) => error instanceof SandboxFailure && error.member === 'stuck' && /stuck/.test(error.message));
      assert.deepEqual(await sandbox.lastLines(of.id, 'stuck', 1), ['last line']);
      assert.deepEqual(await sandbox.lastLines(of.id, 'stuck', 10), ['first line', 'last line']);
      await sandbox.remove(of.id);
      assert.equal((await sandbox.list()).some((info) => info.id === of.id), false);
    });

    test('a member that exits fails the start without waiting out the timeout', async () => {
      const of = spec([harness.exiting('crash', ['cannot connect to db'])], 120_000);
      const began = Date.now();
      await assert.rejects(start(of), (error: unknown) => error instanceof SandboxFailure && error.member === 'crash' && /exited/.test(error.message));
      assert.ok(Date.now() - began < 60_000, 'it did not wait for the timeout');
      assert.deepEqual(await sandbox.lastLines(of.id, 'crash', 5), ['cannot connect to db']);
      await sandbox.remove(of.id);
    });

    test('two sandboxes with members of the same names run side by side, each reaching only its own', async () => {
      const first = spec([harness.ready('api'), harness.ready('client')]);
      const second = spec([harness.ready('api'), harness.ready('other')]);
      await Promise.all([start(first), start(second)]);
      const listed = (await sandbox.list()).map((info) => info.id);
      assert.ok(listed.includes(first.id) && listed.includes(second.id));
      if (harness.reaches) {
        assert.equal(await harness.reaches(first.id, 'client', 'api', harness.port), true);
        assert.equal(await harness.reaches(first.id, 'client', 'other', harness.port), false, "another sandbox's member is out of reach");
      }
      await sandbox.remove(first.id);
      assert.ok((await sandbox.list()).some((info) => info.id === second.id), 'removing one leaves the other');
      await sandbox.remove(second.id);
    });

    test('a cancelled start throws, and remove() cleans up after it', async () => {
      const controller = new AbortController();
      controller.abort(new Error('cancelled by a person'));
      const of = spec([harness.ready('api')]);
      await assert.rejects(start(of, controller.signal));
      await sandbox.remove(of.id);
      assert.equal((await sandbox.list()).some((info) => info.id === of.id), false);
    });

    test('an id that could name something else is refused', async () => {
      await assert.rejects(sandbox.remove('../x'), /sandbox id/);
      await assert.rejects(start({ ...spec([harness.ready('api')]), id: 'Bad Id' }), /sandbox id/);
    });
  });
}
