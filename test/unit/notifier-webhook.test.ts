// The webhook notifier against a real local HTTP receiver: the shared suite, then what a
// receiver checks: the headers, the body, and the signature over its exact bytes.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { NotifyError } from '../../src/notifiers/notifier.ts';
import { verifyWebhookSignature, WebhookNotifier } from '../../src/notifiers/webhook/notifier.ts';
import { notifierAnswers, startHttpReceiver, type HttpReceiver } from '../support/receivers.ts';
import { notifierConformance, SAMPLES } from './notifier-conformance.ts';

const SECRET = 'webhook-hmac-secret-51c0';
const PASSWORD = 'basic-password-77aa';

notifierConformance({
  kind: 'webhook',
  refusals: { transient: 503, permanent: 400 },
  refusalWords: /invalid_payload/,
  async start({ timeoutMs }) {
    const receiver = await startHttpReceiver();
    let stopped = false;
    return {
      notifier: new WebhookNotifier({ url: `http://slipway:${PASSWORD}@${receiver.origin.slice('http://'.length)}/hooks/slipway`, secret: SECRET, timeoutMs }),
      answer: (answer) => (receiver.answer = () => notifierAnswers(`signed with ${SECRET}, password ${PASSWORD}`)[answer]),
      delivered: () =>
        receiver.accepted().map((body) => {
          const notification = JSON.parse(body.toString()) as { title: string; text: string; link: string };
          return `${notification.title}\n${notification.text}\n${notification.link}`;
        }),
      attempts: () => receiver.requests.length,
      secrets: [SECRET, PASSWORD],
      stop: async () => {
        if (!stopped) await receiver.close();
        stopped = true;
      },
    };
  },
});

describe('webhook notifier', () => {
  const started: HttpReceiver[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((receiver) => receiver.close()));
  });

  async function startReceiver(): Promise<HttpReceiver> {
    const receiver = await startHttpReceiver();
    started.push(receiver);
    return receiver;
  }

  async function delivered(notification = SAMPLES['approval.waiting'], url = (origin: string) => `${origin}/hooks/slipway`) {
    const receiver = await startReceiver();
    await new WebhookNotifier({ url: url(receiver.origin), secret: SECRET }).send(notification);
    const [request] = receiver.requests;
    assert.ok(request, 'the receiver got a request');
    return request;
  }

  test('POSTs the notification as JSON, naming its event and delivery id in headers', async () => {
    const notification = SAMPLES['approval.waiting'];
    const request = await delivered();
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/hooks/slipway');
    assert.match(String(request.headers['content-type']), /^application\/json\b/);
    assert.equal(request.headers['user-agent'], 'Slipway');
    assert.equal(request.headers['x-slipway-event'], 'approval.waiting');
    assert.equal(request.headers['x-slipway-delivery'], notification.id);
    assert.equal(request.headers.authorization, undefined);
    assert.deepEqual(JSON.parse(request.body.toString()), notification);
  });

  test('the signature verifies over the exact body with the secret, and with nothing else', async () => {
    const request = await delivered({ ...SAMPLES['run.failed'], text: 'naïve “quotes” ✓ and \u2028 a line separator' });
    const signature = String(request.headers['x-slipway-signature-256']);
    assert.match(signature, /^sha256=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(request.body, signature, SECRET), true);
    assert.equal(verifyWebhookSignature(request.body, signature.toUpperCase().replace('SHA256=', 'sha256='), SECRET), true, 'hex in either case');
    assert.equal(verifyWebhookSignature(request.body, signature, 'another-secret'), false);
    assert.equal(verifyWebhookSignature(Buffer.concat([request.body, Buffer.from(' ')]), signature, SECRET), false, 'a byte more');
    for (const malformed of ['', 'sha256=', signature.slice(0, -2), `sha1=${signature.slice(7)}`, `${signature}00`]) {
      assert.equal(verifyWebhookSignature(request.body, malformed, SECRET), false, `malformed: "${malformed}"`);
    }
  });

  test('the same notification sent again carries the same delivery id, and another one another', async () => {
    const receiver = await startReceiver();
    const notifier = new WebhookNotifier({ url: `${receiver.origin}/hooks/slipway`, secret: SECRET });
    await notifier.send(SAMPLES['approval.waiting']);
    await notifier.send(SAMPLES['approval.waiting']);
    await notifier.send(SAMPLES['approval.expired']);
    const ids = receiver.requests.map((request) => request.headers['x-slipway-delivery']);
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[1], ids[2]);
  });

  test('sends only the notification\'s own fields, whatever else the object holds', async () => {
    const request = await delivered({ ...SAMPLES.deployed, internal: 'not for receivers' } as typeof SAMPLES.deployed);
    assert.deepEqual(Object.keys(JSON.parse(request.body.toString())), ['event', 'title', 'text', 'link', 'service', 'environment', 'runId', 'recipients', 'id', 'at']);
  });

  test('user and password in the URL go as Basic authorization, not in the request line', async () => {
    const request = await delivered(SAMPLES.deployed, (origin) => origin.replace('http://', 'http://slip%40way:p%3Ass@') + '/hooks/slipway');
    assert.equal(request.url, '/hooks/slipway');
    assert.equal(request.headers.authorization, `Basic ${Buffer.from('slip@way:p:ss').toString('base64')}`);
  });

  test('a receiver echoing the request\'s authorization back shows no credential', async () => {
    const receiver = await startReceiver();
    receiver.answer = (request) => ({ status: 401, body: `refused: ${request.headers.authorization}` });
    const notifier = new WebhookNotifier({ url: receiver.origin.replace('http://', 'http://slipway:pw-in-url-90b1@'), secret: SECRET });
    await assert.rejects(notifier.send(SAMPLES.deployed), (error: NotifyError) => {
      assert.equal(error.retryable, false);
      assert.match(error.message, /401 Unauthorized: refused: Basic \[secret\]/);
      return true;
    });
  });

  test('a redirect is an answer, not followed: rejected as not retryable, and the other place gets nothing', async () => {
    const elsewhere = await startReceiver();
    const receiver = await startReceiver();
    receiver.answer = () => ({ status: 307, headers: { location: `${elsewhere.origin}/stolen` } });
    await assert.rejects(new WebhookNotifier({ url: receiver.origin, secret: SECRET }).send(SAMPLES.deployed), { retryable: false, message: /307 Temporary Redirect/ });
    assert.equal(elsewhere.requests.length, 0);
  });

  test('429 is worth another attempt', async () => {
    const receiver = await startReceiver();
    receiver.answer = () => ({ status: 429, body: 'slow down' });
    await assert.rejects(new WebhookNotifier({ url: receiver.origin, secret: SECRET }).send(SAMPLES.deployed), { retryable: true, message: /429 Too Many Requests: slow down/ });
  });

  test('a long answer is cut to its first 200 characters', async () => {
    const receiver = await startReceiver();
    receiver.answer = () => ({ status: 422, body: `${'x'.repeat(200)}${'y'.repeat(100_000)}` });
    await assert.rejects(new WebhookNotifier({ url: receiver.origin, secret: SECRET }).send(SAMPLES.deployed), (error: Error) => {
      assert.match(error.message, /422 Unprocessable Entity: x{200}…$/);
      return true;
    });
  });

  test('an empty secret is refused at once', () => {
    assert.throws(() => new WebhookNotifier({ url: 'http://127.0.0.1:1/', secret: '' }), /secret/);
  });
});
