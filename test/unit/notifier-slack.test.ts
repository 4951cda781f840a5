// The Slack-compatible notifier against a real local HTTP receiver: the shared suite, then the
// body Slack, Mattermost and Rocket.Chat incoming webhooks take.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { SlackNotifier, type SlackSettings } from '../../src/notifiers/slack/notifier.ts';
import { notifierAnswers, startHttpReceiver, type HttpReceiver } from '../support/receivers.ts';
import { notifierConformance, SAMPLES } from './notifier-conformance.ts';

/** A Slack webhook's path is its token. */
const HOOK_PATH = '/services/T0000/B0000/slack-token-9f3e2a';

notifierConformance({
  kind: 'slack',
  refusals: { transient: 503, permanent: 400 },
  refusalWords: /invalid_payload/,
  async start({ timeoutMs }) {
    const receiver = await startHttpReceiver();
    const url = `${receiver.origin}${HOOK_PATH}`;
    let stopped = false;
    return {
      notifier: new SlackNotifier({ url, timeoutMs }),
      answer: (answer) => (receiver.answer = () => notifierAnswers(`no hook at ${url}`)[answer]),
      delivered: () => receiver.accepted().map((body) => (JSON.parse(body.toString()) as { text: string }).text),
      attempts: () => receiver.requests.length,
      secrets: [HOOK_PATH],
      stop: async () => {
        if (!stopped) await receiver.close();
        stopped = true;
      },
    };
  },
});

describe('Slack notifier', () => {
  let receiver: HttpReceiver;
  afterEach(async () => {
    await receiver.close();
  });

  async function sent(settings: Omit<SlackSettings, 'url'>, notification = SAMPLES['run.failed']): Promise<Record<string, unknown>> {
    receiver = await startHttpReceiver();
    await new SlackNotifier({ url: `${receiver.origin}${HOOK_PATH}`, ...settings }).send(notification);
    const [request] = receiver.requests;
    assert.ok(request, 'the hook got a request');
    assert.equal(request.method, 'POST');
    assert.equal(request.url, HOOK_PATH);
    assert.match(String(request.headers['content-type']), /^application\/json\b/);
    assert.equal(request.headers['user-agent'], 'Slipway');
    return JSON.parse(request.body.toString()) as Record<string, unknown>;
  }

  test('posts { text, channel, username }: the title linked in mrkdwn, then the detail', async () => {
    const notification = SAMPLES['run.failed'];
    assert.deepEqual(await sent({ channel: '#deploys', username: 'Slipway' }), {
      text: `<https://ci.example.com/runs/12|payment #12 failed at stage test>\n${notification.text}`,
      channel: '#deploys',
      username: 'Slipway',
    });
  });

  test('sends no channel or username unless set, and an unlinked title as it is', async () => {
    assert.deepEqual(await sent({}, { ...SAMPLES.deployed, link: null, text: '' }), { text: 'payment release #7 is live in staging' });
  });

  test("escapes mrkdwn's &, < and >, and keeps a link whole when it holds | or >", async () => {
    const notification = { ...SAMPLES['run.failed'], title: 'a <b> & c', text: 'x > y', link: 'https://ci.example.com/runs?q=a|b>c' };
    assert.deepEqual(await sent({}, notification), { text: '<https://ci.example.com/runs?q=a%7Cb%3Ec|a &lt;b&gt; &amp; c>\nx &gt; y' });
  });

  test('a URL that is no http(s) URL is refused at once, without being shown', () => {
    assert.throws(() => new SlackNotifier({ url: 'ftp://hooks.example.com/services/secret-path' }), (error: Error) => !error.message.includes('secret-path'));
    assert.throws(() => new SlackNotifier({ url: 'not a url/secret-path' }), (error: Error) => !error.message.includes('secret-path'));
  });
});
