// The e-mail notifier against a real local SMTP server (smtp-server, with a login): the shared
// suite, then who gets the message and how it reads.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { EmailNotifier, type EmailSettings } from '../../src/notifiers/email/notifier.ts';
import { startSmtpReceiver, type SmtpAnswer, type SmtpReceiver } from '../support/receivers.ts';
import { notifierConformance, SAMPLES, type ReceiverAnswer } from './notifier-conformance.ts';

const USER = 'notify-user-3d1c';
const PASS = 'smtp-pass-8e2f/+';
const FROM = 'Slipway <ci@example.com>';

function smtpUrl(receiver: SmtpReceiver, user = USER, pass = PASS): string {
  return `smtp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${receiver.host}:${receiver.port}`;
}

/** The receiver's refusals say the login back, as some servers do. */
const ANSWERS: Record<ReceiverAnswer, SmtpAnswer> = {
  accept: 'accept',
  transient: { code: 451, message: `4.3.0 try again later, ${USER}` },
  permanent: { code: 550, message: `5.7.1 message refused for ${USER} (${PASS})` },
  hang: 'hang',
};

notifierConformance({
  kind: 'email',
  refusals: { transient: 451, permanent: 550 },
  refusalWords: /message refused/,
  async start({ timeoutMs }) {
    const receiver = await startSmtpReceiver({ user: USER, pass: PASS });
    let stopped = false;
    return {
      notifier: new EmailNotifier({ smtp: smtpUrl(receiver), from: FROM, to: ['ops@example.com'], timeoutMs }),
      answer: (answer) => (receiver.answer = ANSWERS[answer]),
      delivered: () => receiver.mails.map(({ parsed }) => `${parsed.subject}\n${parsed.text}\n${parsed.html}`),
      attempts: () => receiver.connections,
      secrets: [USER, PASS, encodeURIComponent(PASS)],
      stop: async () => {
        if (!stopped) await receiver.close();
        stopped = true;
      },
    };
  },
});

describe('e-mail notifier', () => {
  const started: SmtpReceiver[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((receiver) => receiver.close()));
  });

  async function startReceiver(): Promise<SmtpReceiver> {
    const receiver = await startSmtpReceiver({ user: USER, pass: PASS });
    started.push(receiver);
    return receiver;
  }

  async function notifierFor(settings: Partial<EmailSettings> = {}): Promise<{ receiver: SmtpReceiver; notifier: EmailNotifier }> {
    const receiver = await startReceiver();
    return { receiver, notifier: new EmailNotifier({ smtp: smtpUrl(receiver), from: FROM, to: ['ops@example.com'], ...settings }) };
  }

  test("goes to the configured addresses and the notification's recipients, each once", async () => {
    const { receiver, notifier } = await notifierFor({ to: ['ops@example.com', 'Ada Lovelace <ADA@example.com>'] });
    await notifier.send({ ...SAMPLES['approval.waiting'], recipients: ['ada@example.com', 'grace@example.com', 'ops@example.com'] });
    const [mail] = receiver.mails;
    assert.ok(mail);
    assert.equal(mail.user, USER, 'logged in with the URL\'s credentials');
    assert.equal(mail.from, 'ci@example.com');
    assert.deepEqual(mail.to, ['ops@example.com', 'ADA@example.com', 'grace@example.com']);
  });

  test('reads as the notification: subject, text with the link, an HTML part, the time it happened', async () => {
    const { receiver, notifier } = await notifierFor();
    const notification = SAMPLES['approval.waiting'];
    await notifier.send(notification);
    const { parsed } = receiver.mails[0]!;
    assert.equal(parsed.subject, notification.title);
    assert.equal(parsed.text?.trim(), `${notification.text}\n\n${notification.link}`);
    assert.match(String(parsed.html), new RegExp(`<a href="${notification.link}">${notification.title}</a>`));
    assert.equal(parsed.date?.toISOString(), notification.at);
    assert.equal(parsed.from?.text, '"Slipway" <ci@example.com>');
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-generated');
    assert.equal(parsed.headers.get('x-slipway-event'), 'approval.waiting');
  });

  test('the HTML part escapes the words', async () => {
    const { receiver, notifier } = await notifierFor();
    await notifier.send({ ...SAMPLES['run.failed'], title: 'a <b> & "c"', text: '<script>x</script>', link: null });
    assert.equal(receiver.mails[0]!.parsed.html, '<p><strong>a &lt;b&gt; &amp; &quot;c&quot;</strong></p>\n<p>&lt;script&gt;x&lt;/script&gt;</p>\n');
  });

  test('the same notification has the same Message-ID every time it is sent; another has another', async () => {
    const { receiver, notifier } = await notifierFor();
    await notifier.send(SAMPLES.deployed);
    await notifier.send(SAMPLES.deployed);
    await notifier.send(SAMPLES.rolled_back);
    const ids = receiver.mails.map(({ parsed }) => parsed.messageId);
    assert.match(String(ids[0]), /^<slipway\.[0-9a-f]{32}@example\.com>$/);
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[1], ids[2]);
  });

  test('nobody to address: nothing is sent, and that is no error', async () => {
    const { receiver, notifier } = await notifierFor({ to: [] });
    await notifier.send(SAMPLES['run.failed']);
    assert.equal(receiver.connections, 0);
  });

  test('a refused login (535) is not worth another attempt, and the message shows no credential', async () => {
    const receiver = await startReceiver();
    const notifier = new EmailNotifier({ smtp: smtpUrl(receiver, USER, 'wrong-pass-41'), from: FROM, to: ['ops@example.com'] });
    await assert.rejects(notifier.send(SAMPLES.deployed), (error: { retryable?: unknown; message: string }) => {
      assert.equal(error.retryable, false);
      assert.match(error.message, /535/);
      for (const secret of [USER, 'wrong-pass-41']) assert.ok(!error.message.includes(secret), error.message);
      return true;
    });
  });

  test('a setting that is no smtp:// or smtps:// URL is refused at once, without being shown', () => {
    for (const smtp of ['http://user:pw-secret@mail.example.com', 'user:pw-secret@mail.example.com']) {
      assert.throws(() => new EmailNotifier({ smtp, from: FROM, to: [] }), (error: Error) => !error.message.includes('pw-secret'));
    }
  });
});
