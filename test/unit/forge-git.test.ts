// The plain-git "forge" on real deliveries: set-up pushes into a real bare repository whose
// post-receive hook `slipway hook install` wrote, and records what that hook sends to a stand-in
// server (test/support/git-hook.ts). Plain git has no pull requests, and knows a repository by
// the one URL or path it was installed for.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ForgeEvent, RepositoryRef, WebhookResult } from '../../src/forges/forge.ts';
import { GitForge } from '../../src/forges/git/forge.ts';
import { deliveryFor, hookedRepository, PUSH_STEPS, PUSHER, pushScenario, startHookServer, type PushStep, type RecordedRequest } from '../support/git-hook.ts';
import { forgeConformance, type ConformanceCase, type Delivery } from './forge-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-forge-git-'));
const server = await startHookServer();
after(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});
const { bare, work } = await hookedRepository(root, server);
const steps = await pushScenario(work, server);

const repository: RepositoryRef = { fullName: bare, urls: [bare] };

function deliver(recorded: RecordedRequest, body = recorded.body): (secret: string) => Delivery {
  return (secret) => ({ headers: { ...recorded.headers, 'x-slipway-token': secret }, body });
}

const deliveryIdOf = (recorded: RecordedRequest) => String(recorded.headers['x-slipway-delivery']);

/** The event a step's update of `ref` must become, from what the scenario did (not from the body). */
function caseOf(step: PushStep, ref: string): ConformanceCase {
  const recorded = deliveryFor(step, ref);
  const expected = step.expected.find((update) => update.ref === ref)!;
  const delivered = { deliveryId: deliveryIdOf(recorded), repository, sender: PUSHER };
  const deleted = /^0+$/.test(expected.after);
  let event: ForgeEvent;
  if (ref.startsWith('refs/heads/')) {
    event = {
      kind: 'push',
      ...delivered,
      branch: ref.slice('refs/heads/'.length),
      before: expected.before,
      after: expected.after,
      created: /^0+$/.test(expected.before),
      deleted,
      forced: expected.forced,
      commitCount: expected.commits,
    };
  } else {
    event = { kind: 'tag', ...delivered, tag: ref.slice('refs/tags/'.length), sha: expected.commit, deleted };
  }
  return { deliver: deliver(recorded), event };
}

const forge = new GitForge();
const pushDelivery = deliveryFor(steps.updated, 'refs/heads/main');
const { after: _after, ...withoutAfter } = JSON.parse(pushDelivery.body.toString('utf8')) as Record<string, unknown>;

forgeConformance('git', forge, {
  webUrl: null,
  signatureHeader: 'x-slipway-token',
  signsBody: false,
  resign: ({ headers }, body, secret) => ({ headers: { ...headers, 'x-slipway-token': secret }, body }),
  push: caseOf(steps.updated, 'refs/heads/main'),
  branchCreated: caseOf(steps.created, 'refs/heads/main'),
  branchDeleted: caseOf(steps.notesAndDeletions, 'refs/heads/feature'),
  forcedPush: caseOf(steps.forced, 'refs/heads/main'),
  emptyPush: caseOf(steps.updated, 'refs/heads/feature'),
  tag: caseOf(steps.updated, 'refs/tags/v1.0'),
  pullRequestOpened: null,
  pullRequestUpdated: null,
  pullRequestFromFork: null,
  // The hook names the repository once, by the URL or path its token was issued for.
  retargets: [],
  minimumUrls: 1,
  ignored: { deliver: deliver(deliveryFor(steps.notesAndDeletions, 'refs/notes/commits')), repository },
  incomplete: deliver(pushDelivery, Buffer.from(JSON.stringify(withoutAfter))),
});

describe('git forge', () => {
  const parse = (delivery: Delivery): WebhookResult => forge.parseWebhook(delivery.headers, delivery.body, () => 'secret');
  const parsesTo = ({ deliver: deliverIt, event }: ConformanceCase, what: string) =>
    assert.deepEqual(parse(deliverIt('secret')), { kind: 'event', event }, what);

  test('every ref of a push is its own delivery and event', () => {
    for (const name of PUSH_STEPS) {
      const step = steps[name];
      assert.equal(step.deliveries.length, step.expected.length, `${name}: ${step.output}`);
      for (const { ref } of step.expected) {
        if (ref.startsWith('refs/heads/') || ref.startsWith('refs/tags/')) parsesTo(caseOf(step, ref), `${name} ${ref}`);
      }
    }
  });

  test('an annotated tag names its commit, not the tag object', () => {
    const { event } = caseOf(steps.updated, 'refs/tags/v1.0');
    const tagObject = steps.updated.expected.find((update) => update.ref === 'refs/tags/v1.0')!.after;
    assert.ok(event.kind === 'tag' && event.sha !== tagObject);
  });

  test('a tag deletion is a tag event that says deleted, naming the commit the tag named', () => {
    const tagged = caseOf(steps.updated, 'refs/tags/v1.0').event;
    const deletion = caseOf(steps.notesAndDeletions, 'refs/tags/v1.0');
    assert.ok(tagged.kind === 'tag' && deletion.event.kind === 'tag');
    assert.deepEqual([deletion.event.deleted, deletion.event.sha], [true, tagged.sha]);
    parsesTo(deletion, 'tag deletion');
  });

  test('a deleted tag the hook could not peel names what it pointed at (before)', () => {
    const recorded = deliveryFor(steps.notesAndDeletions, 'refs/tags/v1.0');
    const body = JSON.parse(recorded.body.toString('utf8')) as { before: string; commit: string };
    const unpeeled = Buffer.from(JSON.stringify({ ...body, commit: '0'.repeat(40) }));
    const result = parse(deliver(recorded, unpeeled)('secret'));
    assert.equal(result.kind === 'event' && result.event.kind === 'tag' && result.event.sha, body.before);
  });

  test('a new branch counts the commits no other branch had', () => {
    const { event } = caseOf(steps.newBranchAndTag, 'refs/heads/topic');
    assert.equal(event.kind === 'push' && event.commitCount, 2);
  });

  test('without X-Slipway-Delivery the delivery id is the body digest', () => {
    const { headers, body } = caseOf(steps.updated, 'refs/heads/main').deliver('secret');
    const { 'x-slipway-delivery': _id, ...withoutId } = headers;
    const result = parse({ headers: withoutId, body });
    assert.match(result.kind === 'event' ? result.event.deliveryId : '', /^sha256:[0-9a-f]{64}$/);
  });

  test('notes are ignored, saying which ref was updated', () => {
    const result = parse(deliver(deliveryFor(steps.notesAndDeletions, 'refs/notes/commits'))('secret'));
    assert.equal(result.kind, 'ignored');
    assert.match(result.kind === 'ignored' ? result.reason : '', /refs\/notes\/commits/);
  });
});
