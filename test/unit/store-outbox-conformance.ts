// The Store conformance suite, third part: the outbox of notifications and commit statuses
// (src/store/store.ts OutboxRepository): key coalescing, claims with leases that never hand one
// item to two senders, settling, what is due. Each test gets a fresh, empty store.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NewOutboxItem, Store } from '../../src/store/store.ts';

const T = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
const ids = (records: Array<{ id: number }>) => records.map((record) => record.id);

/** An outbox item as the commit statuses make them; shared with the delivery part's transaction tests. */
export function item(key: string | null, at = T(0), overrides: Partial<NewOutboxItem> = {}): NewOutboxItem {
  return { topic: 'commit_status', destination: 'github:acme/payment', key, payload: { state: 'pending', key }, at, ...overrides };
}

export function storeOutboxConformance(name: string, open: () => Promise<Store>): void {
  describe(`Store conformance (outbox): ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('outbox', () => {
      it('enqueue stores pending items, due at once, with nothing tried yet', async () => {
        const [a, b] = await store.outbox.enqueue([item('s1', T(1)), item(null, T(2), { topic: 'notification', destination: 'slack', payload: { text: 'ünï ✓', n: [1, null] } })]);
        const { at: _at, ...given } = item('s1', T(1));
        assert.deepEqual(a, { id: a!.id, ...given, status: 'pending', attempts: 0, nextAttemptAt: T(1), leaseUntil: null, lastError: null, createdAt: T(1), doneAt: null });
        assert.ok(b!.id > a!.id);
        assert.deepEqual(b!.payload, { text: 'ünï ✓', n: [1, null] });
        assert.deepEqual(await store.outbox.list().then((all) => all.sort((x, y) => x.id - y.id)), [a, b]);
        assert.deepEqual(await store.outbox.enqueue([]), []);
      });

      it('enqueue replaces an unsent, unclaimed item of the same topic and key, and nothing else', async () => {
        const [old] = await store.outbox.enqueue([item('s1', T(0))]);
        assert.deepEqual(ids(await store.outbox.claim(T(0), T(1), 10)), [old!.id]);
        await store.outbox.settle(old!.id, { status: 'pending', nextAttemptAt: T(5), error: 'timeout' });
        const [sent] = await store.outbox.enqueue([item('done', T(2))]);
        assert.deepEqual(ids(await store.outbox.claim(T(2), T(3), 10)), [sent!.id]);
        await store.outbox.settle(sent!.id, { status: 'sent', at: T(2) });
        const [otherTopic, keyless] = await store.outbox.enqueue([item('s1', T(3), { topic: 'notification' }), item(null, T(3))]);

        const [fresh, keyless2, replacedInBatch, last] = await store.outbox.enqueue([item('s1', T(4)), item(null, T(4)), item('done', T(4)), item('done', T(4), { payload: 'newest' })]);
        assert.deepEqual([fresh!.attempts, fresh!.lastError, fresh!.nextAttemptAt, fresh!.status], [0, null, T(4), 'pending'], 'attempts start over');
        const listed = ids(await store.outbox.list()).sort((x, y) => x - y);
        // Gone: the unsent s1 (replaced) and the first 'done' of the last batch (replaced by the later one).
        // Kept: the sent 'done' (history), s1 of another topic, both items without a key.
        assert.deepEqual(listed, ids([sent!, otherTopic!, keyless!, fresh!, keyless2!, last!]));
        assert.ok(!listed.includes(old!.id) && !listed.includes(replacedInBatch!.id));
        assert.equal((await store.outbox.list({ statuses: ['sent'] }))[0]!.id, sent!.id);
      });

      it('enqueue leaves an item that is claimed (leased) alone', async () => {
        const [claimed] = await store.outbox.enqueue([item('s1')]);
        await store.outbox.claim(T(0), T(10), 1);
        const [next] = await store.outbox.enqueue([item('s1', T(1))]);
        assert.deepEqual(ids((await store.outbox.list()).sort((x, y) => x.id - y.id)), [claimed!.id, next!.id]);
        assert.equal((await store.outbox.settle(claimed!.id, { status: 'sent', at: T(2) }))?.status, 'sent', 'its sender can still settle it');
      });

      it('enqueue replaces an item whose lease lapsed: a stale state is never sent after a newer one', async () => {
        const [stale] = await store.outbox.enqueue([item('s1', T(0), { payload: 'old' })]);
        await store.outbox.claim(T(0), T(1), 10);
        const [newest] = await store.outbox.enqueue([item('s1', T(5), { payload: 'new' })]);
        assert.deepEqual((await store.outbox.claim(T(6), T(7), 10)).map((i) => i.payload), ['new']);
        assert.equal(await store.outbox.settle(stale!.id, { status: 'sent', at: T(6) }), null, 'the lapsed sender lost it');
        assert.equal((await store.outbox.settle(newest!.id, { status: 'sent', at: T(6) }))?.status, 'sent');
      });

      it('an item put back for another attempt after a newer one with its key came is never claimed again', async () => {
        const [older] = await store.outbox.enqueue([item('s1', T(0), { payload: 'old' })]);
        await store.outbox.claim(T(0), T(5), 10);
        await store.outbox.enqueue([item('s1', T(1), { payload: 'new' })]);
        await store.outbox.settle(older!.id, { status: 'pending', nextAttemptAt: T(2), error: 'timeout' });
        assert.deepEqual((await store.outbox.claim(T(9), T(10), 10)).map((i) => i.payload), ['new']);
      });

      it('claim leases pending items due by now, counts the attempt, and skips leased ones until the lease ends', async () => {
        const [a, b, c] = await store.outbox.enqueue([item('a', T(1)), item('b', T(2)), item('c', T(9))]);
        const first = await store.outbox.claim(T(5), T(6), 10);
        assert.deepEqual(ids(first).sort(), ids([a!, b!]).sort());
        for (const claimed of first) assert.deepEqual([claimed.leaseUntil, claimed.attempts, claimed.status], [T(6), 1, 'pending']);
        assert.deepEqual(await store.outbox.claim(T(5), T(7), 10), [], 'leased, and c is not due');
        const retaken = await store.outbox.claim(T(10), T(12), 10);
        assert.deepEqual(ids(retaken).sort(), ids([a!, b!, c!]).sort(), 'leases lapsed, c came due');
        assert.deepEqual(retaken.find((i) => i.id === a!.id)!.attempts, 2);
        assert.deepEqual((await store.outbox.claim(T(20), T(21), 2)).length, 2, 'at most limit');
      });

      it('concurrent claims hand out disjoint items', async () => {
        await store.outbox.enqueue(Array.from({ length: 20 }, (_, i) => item(`k${i}`)));
        const claims = await Promise.all(Array.from({ length: 4 }, () => store.outbox.claim(T(1), T(5), 7)));
        const claimed = claims.flatMap(ids);
        assert.equal(new Set(claimed).size, claimed.length, 'no item in two claims');
        assert.equal(claimed.length, 20);
        assert.ok(claims.every((claim) => claim.length <= 7));
        assert.ok((await store.outbox.list()).every((i) => i.attempts === 1 && i.leaseUntil === T(5)));
      });

      it('settle ends an item as sent or failed, or puts it back for another attempt; null once it is no longer pending', async () => {
        const [a, b, c] = await store.outbox.enqueue([item('a'), item('b'), item('c')]);
        await store.outbox.claim(T(0), T(1), 10);
        const sent = await store.outbox.settle(a!.id, { status: 'sent', at: T(1) });
        assert.deepEqual(sent, { ...a!, status: 'sent', attempts: 1, doneAt: T(1) });
        const failed = await store.outbox.settle(b!.id, { status: 'failed', at: T(1), error: '404 not found' });
        assert.deepEqual(failed, { ...b!, status: 'failed', attempts: 1, doneAt: T(1), lastError: '404 not found' });
        const retry = await store.outbox.settle(c!.id, { status: 'pending', nextAttemptAt: T(8), error: 'timeout' });
        assert.deepEqual(retry, { ...c!, attempts: 1, nextAttemptAt: T(8), lastError: 'timeout' });
        assert.equal(await store.outbox.settle(a!.id, { status: 'failed', at: T(2) }), null);
        assert.equal(await store.outbox.settle(999, { status: 'sent', at: T(2) }), null);
        assert.deepEqual(await store.outbox.claim(T(7), T(9), 10), [], 'not due before its next attempt');
        assert.deepEqual((await store.outbox.claim(T(8), T(9), 10)).map((i) => [i.id, i.attempts, i.lastError]), [[c!.id, 2, 'timeout']]);
      });

      it('nextDue is the earliest attempt among pending items; list filters by topic and statuses', async () => {
        assert.equal(await store.outbox.nextDue(), null);
        const [a, b, c] = await store.outbox.enqueue([item('a', T(3)), item('b', T(7), { topic: 'notification' }), item('c', T(5))]);
        assert.equal(await store.outbox.nextDue(), T(3));
        await store.outbox.claim(T(3), T(4), 1);
        await store.outbox.settle(a!.id, { status: 'sent', at: T(3) });
        assert.equal(await store.outbox.nextDue(), T(5));
        const sorted = async (filter: Parameters<Store['outbox']['list']>[0]) => ids(await store.outbox.list(filter)).sort((x, y) => x - y);
        assert.deepEqual(await sorted({ topic: 'notification' }), [b!.id]);
        assert.deepEqual(await sorted({ statuses: ['pending'] }), [b!.id, c!.id]);
        assert.deepEqual(await sorted({ topic: 'commit_status', statuses: ['sent', 'failed'] }), [a!.id]);
        assert.deepEqual(await store.outbox.list({ statuses: [] }), []);
        assert.equal((await store.outbox.list({ limit: 2 })).length, 2);
      });
    });
  });
}
