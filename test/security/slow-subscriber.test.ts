// Attack: subscribe to GET /api/events and never read. Before, the stream queued every event
// for that subscriber in the server's memory, without bound, for as long as the connection
// stayed open: one client (any token holder) could exhaust the server by pausing a socket
// while runs logged. Now a subscriber is a position in the bus's bounded replay buffer; once
// an event it has not read would leave the buffer, its connection is cut, and memory stays
// bounded by the buffer, however much is published. A subscriber that reads is not affected.
//
// The server is the real API (createApp, served by @hono/node-server on a TCP socket) with the
// default MemoryEventBus and the real access check (a viewer's token); only the stream is used,
// so the engine and webhook dependencies are stand-ins.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, it } from 'node:test';
import { getRequestListener } from '@hono/node-server';
import { AccessService } from '../../src/auth/access.ts';
import { SlipwayClient } from '../../src/client/client.ts';
import type { Config } from '../../src/config/model.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { Deployments } from '../../src/deployments/service.ts';
import type { EnvironmentSecrets } from '../../src/secrets/environment.ts';
import { createApp } from '../../src/server/app.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import type { WebhookSecrets } from '../../src/triggers/secrets.ts';
import type { WebhookReceiver } from '../../src/triggers/webhooks.ts';

/** 10 KiB log lines, 80 MB in all: far past the bus's 32 MiB buffer. */
const LINE_BYTES = 10 * 1024;
const LINES = 8000;
/** The reading subscriber is waited for after each batch, as a client that keeps up would be. */
const BATCH = 20;
/** The buffer (DEFAULT_REPLAY_LIMITS.maxBytes) plus room for what is in flight. */
const MEMORY_BOUND_BYTES = 48 * 1024 * 1024;

setFlagsFromString('--expose-gc');
/** A full collection, so that a sample counts what is kept, not garbage not yet collected. */
const collectGarbage = runInNewContext('gc') as () => void;

let bus: MemoryEventBus;
let server: Server;
let port: number;
let store: Store;
/** A viewer's token: any token, of the smallest role, may open the stream. */
let token: string;
/** The server's side of each connection, in the order they came. */
const serverSockets: Socket[] = [];

before(async () => {
  bus = new MemoryEventBus();
  store = await openSqliteStore(':memory:');
  const access = new AccessService(store);
  const admin = await access.authenticate(`Bearer ${(await access.bootstrap('test'))!.value}`);
  assert.ok(admin.ok);
  await access.addUser(admin.principal, { name: 'vera', role: 'viewer' });
  token = (await access.createToken(admin.principal, { name: 'stream', user: 'vera' })).value;
  const app = createApp({
    engine: { config: { services: {}, environments: {} } as unknown as Config } as Engine,
    store,
    bus,
    access,
    info: { version: 'test', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: {} as WebhookReceiver, secrets: {} as WebhookSecrets },
    deployments: {} as Deployments,
    secrets: {} as EnvironmentSecrets,
    schedules: { describe: () => [] },
    publicUrl: () => 'http://slipway.test',
  });
  server = createServer(getRequestListener(app.fetch));
  server.on('connection', (socket) => serverSockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await store.close();
});

function publishLine(seq: number): void {
  // Each line its own string, as an executor's output is: nothing shared between events.
  const text = `${seq} ${randomBytes(LINE_BYTES / 2).toString('hex')}`;
  bus.publish({ type: 'log', data: { runId: 1, stageId: 1, seq, stream: 'stdout', text, at: '2025-03-10T12:00:00.000Z' } });
}

/** The server's memory that this scenario can grow: the JavaScript heap and buffers outside it. */
function memoryInUse(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** A raw subscriber: sends the request, resolves once `ready` arrived, then reads only when told. */
async function openUnreadSubscriber(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => {});
  socket.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!text.includes('event: ready')) return;
      socket.off('data', check);
      resolve();
    };
    socket.on('data', check);
    socket.once('close', () => reject(new Error(`the stream closed before it was ready: ${text}`)));
  });
  socket.pause();
  return { socket, received: () => text, closed };
}

/** The seqs of the log events in an SSE text. */
function logSeqs(text: string): number[] {
  return [...text.matchAll(/"seq":(\d+)/g)].map((match) => Number(match[1]));
}

interface Outcome {
  /** How many lines had been published when the server closed the unread subscriber's connection; null if it never did. */
  cutAfter: number | null;
  /** What the unread subscriber got once it read again. */
  unreadGot: number[];
  readerGot: number[];
  baselineMemory: number;
  peakMemory: number;
}

let outcome: Outcome;

describe('attack: a subscriber to the event stream that never reads', () => {
  before(async () => {
    const unread = await openUnreadSubscriber();
    const unreadOnServer = serverSockets.at(-1)!;
    let cutAfter: number | null = null;
    let published = 0;
    unreadOnServer.once('close', () => (cutAfter = published));

    const abort = new AbortController();
    const events = new SlipwayClient(`http://127.0.0.1:${port}`, token).events({}, abort.signal)[Symbol.asyncIterator]();
    assert.deepEqual((await events.next()).value, { type: 'ready' });
    const readerGot: number[] = [];

    const baselineMemory = memoryInUse();
    let peakMemory = baselineMemory;
    while (published < LINES) {
      for (let index = 0; index < BATCH; index++) publishLine(++published);
      while (readerGot.at(-1) !== published) {
        const next = await events.next();
        assert.ok(!next.done, 'the reading subscriber lost its stream');
        if (next.value.type === 'log') readerGot.push(next.value.data.seq);
      }
      if (published % (BATCH * 10) === 0) peakMemory = Math.max(peakMemory, memoryInUse());
    }
    abort.abort();

    // Read again: either the connection was cut (it ends), or everything arrives, last line too.
    const gotLast = new Promise<void>((resolve) => {
      const check = () => {
        if (!unread.received().includes(`"seq":${LINES},`)) return;
        unread.socket.off('data', check);
        resolve();
      };
      unread.socket.on('data', check);
    });
    unread.socket.resume();
    await Promise.race([unread.closed, gotLast]);
    unread.socket.destroy();
    outcome = { cutAfter, unreadGot: logSeqs(unread.received()), readerGot, baselineMemory, peakMemory };
  });

  it('cuts the connection of the subscriber that does not read, before the publishing is over', () => {
    assert.notEqual(outcome.cutAfter, null, `the server never closed it; it had ${outcome.unreadGot.length} of ${LINES} lines queued for it`);
    assert.ok(outcome.cutAfter! < LINES, `cut after ${outcome.cutAfter} of ${LINES} lines`);
    assert.ok(outcome.unreadGot.length < LINES, `it got ${outcome.unreadGot.length} of ${LINES} lines`);
    const gapFree = outcome.unreadGot.every((seq, index) => seq === index + 1);
    assert.ok(gapFree, 'what it did get has no gap, so it can resume after its last id');
  });

  it('keeps the server memory bounded by the replay buffer while 80 MB are published', () => {
    const grew = outcome.peakMemory - outcome.baselineMemory;
    assert.ok(grew < MEMORY_BOUND_BYTES, `memory grew by ${(grew / 1024 / 1024).toFixed(1)} MiB, over ${MEMORY_BOUND_BYTES / 1024 / 1024} MiB`);
  });

  it('gives a subscriber that reads every event, in order', () => {
    assert.equal(outcome.readerGot.length, LINES);
    assert.ok(
      outcome.readerGot.every((seq, index) => seq === index + 1),
      'in order, none missing, none twice',
    );
  });
});
