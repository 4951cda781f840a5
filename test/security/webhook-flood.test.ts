// Attack: a flood of large webhook bodies, sent slowly.
//
// A body must be read whole before its signature can be checked, so anyone who can reach
// /hooks can make the server hold bodies: many connections, each sending a body just under the
// per-body limit a little at a time, would hold them all at once. The listener keeps a budget
// of the body bytes it holds across all requests, refuses (413, the limit named) a request that
// would go over it without reading more of it, and serves deliveries again once the flood ends.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { webhookListener } from '../../src/server/hooks.ts';
import { until } from '../support/wait.ts';
import { githubDelivery, githubExample, replaceEverywhere, setField } from '../support/webhooks.ts';
import { wired, type Wired } from '../support/wired.ts';

// Memory is sampled after a full collection, so garbage is not mistaken for held bodies.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const BUDGET = 8 * MiB;
const MAX_BODY = 4 * MiB;
/** Each sender's body: under the per-body limit, so only the budget can stop it. */
const BODY = 3 * MiB;
const SENDERS = 48;
const CHUNK = Buffer.alloc(64 * 1024, 'x');
/** What the server holds besides bodies (sockets' read buffers, the parser, the clients here): well under a budget. */
const SLACK = 8 * MiB;
const SECRET = 'secret-of-acme-shop';

const CONFIG = `
pipeline:
  - stage: test
    run: make test
forges:
  github:
    repositories:
      acme/shop: { secret: ${SECRET} }
services:
  shop:
    repo: https://github.com/acme/shop.git
    branch: master
`;

let world: Wired;
let server: Server;
let listener: ReturnType<typeof webhookListener>;
let port: number;
/** The status of each answer the server sent. */
const answered: number[] = [];

before(async () => {
  world = await wired(CONFIG);
  listener = webhookListener(world.triggers.receiver, MAX_BODY, () => {}, BUDGET);
  server = createServer((request, response) => {
    response.on('finish', () => answered.push(response.statusCode));
    listener(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await world.close();
});

/**
 * One slow sender: a POST of BODY bytes, a chunk at a time with a pause between, declared by
 * Content-Length or chunked; it stops sending as soon as an answer comes. Answers the status
 * and body of the answer; status 0 when the connection closed without one (refused mid-body,
 * the server closes without reading on: a write of the sender's that meets the reset loses
 * the answer still unread, as it would for any client).
 */
function slowSender(declareLength: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (data) => (answer += data.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      resolve({ status, text: answer.slice(answer.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('connect', async () => {
      const framing = declareLength ? `Content-Length: ${BODY}` : 'Transfer-Encoding: chunked';
      socket.write(`POST /hooks/github HTTP/1.1\r\nHost: slipway.test\r\nContent-Type: application/json\r\n${framing}\r\nConnection: close\r\n\r\n`);
      for (let sent = 0; sent < BODY && answer === '' && !socket.destroyed; sent += CHUNK.length) {
        // The one CHUNK, written again and again: the senders hold next to nothing themselves.
        if (!declareLength) socket.write(`${CHUNK.length.toString(16)}\r\n`);
        socket.write(CHUNK);
        if (!declareLength) socket.write('\r\n');
        await new Promise((wait) => setTimeout(wait, 5));
      }
      if (!declareLength && answer === '' && !socket.destroyed) socket.write('0\r\n\r\n');
    });
  });
}

describe('a flood of large, slowly sent webhook bodies', () => {
  it('never holds more body bytes than the budget, refuses what would go over it, and serves again once it is over', async () => {
    collectGarbage();
    const baseline = process.memoryUsage().arrayBuffers;
    let heldPeak = 0;
    let gaugePeak = 0;
    const sample = () => {
      collectGarbage();
      heldPeak = Math.max(heldPeak, process.memoryUsage().arrayBuffers - baseline);
      gaugePeak = Math.max(gaugePeak, listener.bodyBytes ?? 0);
    };
    const sampler = setInterval(sample, 20);
    const answers = await Promise.all(Array.from({ length: SENDERS }, (_, index) => slowSender(index % 2 === 0)));
    clearInterval(sampler);
    sample();

    const flood = (SENDERS * BODY) / MiB;
    assert.ok(
      heldPeak <= BUDGET + SLACK,
      `the server held ${(heldPeak / MiB).toFixed(1)} MiB of a ${flood} MiB flood at once; the budget is ${BUDGET / MiB} MiB (+${SLACK / MiB} MiB for the rest)`,
    );
    assert.equal(typeof listener.bodyBytes, 'number', 'the listener shows the body bytes it holds');
    assert.ok(gaugePeak > 0 && gaugePeak <= BUDGET, `held ${gaugePeak} body bytes, budget ${BUDGET}`);

    // Every sender was answered (none hangs on), most of them refused; those refused mid-body
    // may have lost the answer to the reset, the others read why.
    assert.equal(answered.length, SENDERS, `answered: ${answered.join(' ')}`);
    assert.ok(answered.filter((status) => status === 413).length >= SENDERS / 2, `answered: ${answered.join(' ')}`);
    const refused = answers.filter((answer) => answer.status === 413);
    assert.ok(refused.length > 0, `statuses read by the senders: ${answers.map((answer) => answer.status).join(' ')}`);
    for (const answer of refused) {
      const { error } = JSON.parse(answer.text) as { error: { code: string; message: string } };
      assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
      assert.ok(error.message.includes(`${BUDGET} bytes`), error.message);
    }

    await until('the listener to hold no body', () => listener.bodyBytes === 0, 60_000);
    const push = replaceEverywhere(
      githubExample('push', 'a branch creation', (example) => example.ref === 'refs/heads/master' && example.created === true),
      { 'Codertocat/Hello-World': 'acme/shop' },
    );
    setField(push, 'repository.name', 'shop');
    setField(push, 'repository.owner.login', 'acme');
    setField(push, 'repository.owner.name', 'acme');
    const { headers, body } = githubDelivery('push', push, SECRET);
    const response = await fetch(`http://127.0.0.1:${port}/hooks/github`, { method: 'POST', headers, body: new Uint8Array(body) });
    assert.equal(response.status, 202, await response.text());
  });
});
