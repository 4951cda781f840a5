// Three small repositories for the integration-stage tests, plain Node with no packages (the
// base image has none): `notification` records every notice posted to it (after reaching the
// mail API it requires), `payment` posts a notice to notification by name for each payment, and
// `payment-tests` is a test-suite service whose image's command pays through payment and checks
// that notification heard of it. Each waits SUITE_SLEEP_MS first when set, so a test can hold a
// suite running. A notification built with `broken` exits at start, saying why.

import { NODE_IMAGE } from '../../src/images/base.ts';

const dockerfile = (command: string) => [`FROM ${NODE_IMAGE}`, 'COPY app.js /app/app.js', `CMD ["node", "/app/app.js"${command}]`, ''].join('\n');

const NOTIFICATION = String.raw`
const http = require('node:http');
if (process.env.BROKEN) {
  console.log('notification: connecting to the mail API');
  console.error('notification: refusing to start: ' + process.env.BROKEN);
  process.exit(1);
}
const calls = [];
http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.url === '/healthz') return res.end('ok');
    if (req.url === '/calls') return res.end(JSON.stringify(calls));
    if (req.url === '/notify' && req.method === 'POST') {
      http.get(process.env.MAIL_URL, (mail) => {
        mail.resume();
        calls.push(JSON.parse(body));
        console.log('notification: sent ' + body + ' (mail API answered ' + mail.statusCode + ')');
        res.statusCode = 202;
        res.end('sent');
      }).on('error', (error) => {
        res.statusCode = 502;
        res.end('mail API: ' + error.message);
      });
      return;
    }
    res.statusCode = 404;
    res.end();
  });
}).listen(3000, () => console.log('notification listening on 3000'));
`;

const PAYMENT = String.raw`
const http = require('node:http');
http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.url === '/healthz') return res.end('ok');
    if (req.url === '/pay' && req.method === 'POST') {
      const notice = JSON.stringify({ paid: JSON.parse(body).amount });
      const call = http.request(process.env.NOTIFY_URL + '/notify', { method: 'POST' }, (answer) => {
        answer.resume();
        console.log('payment: paid, notification answered ' + answer.statusCode);
        res.statusCode = answer.statusCode === 202 ? 201 : 502;
        res.end();
      });
      call.on('error', (error) => {
        console.error('payment: notification unreachable: ' + error.message);
        res.statusCode = 502;
        res.end();
      });
      call.end(notice);
      return;
    }
    res.statusCode = 404;
    res.end();
  });
}).listen(3000, () => console.log('payment listening on 3000'));
`;

/** The suite: SLIPWAY_URL is the service under test in the integration environment. */
const SUITE = String.raw`
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
(async () => {
  await sleep(Number(process.env.SUITE_SLEEP_MS || 0));
  const amount = Math.floor(Math.random() * 1000000);
  console.log('suite: paying ' + amount + ' at ' + process.env.SLIPWAY_URL);
  const paid = await fetch(process.env.SLIPWAY_URL + '/pay', { method: 'POST', body: JSON.stringify({ amount }) });
  if (paid.status !== 201) throw new Error('payment answered ' + paid.status);
  const calls = await (await fetch('http://notification:3000/calls')).json();
  if (!calls.some((call) => call.paid === amount)) throw new Error('notification never heard of the payment: ' + JSON.stringify(calls));
  console.log('suite: notification heard of payment ' + amount);
})().catch((error) => {
  console.error('suite failed: ' + error.message);
  process.exit(1);
});
`;

/** notification's own suite, run with `node check.js` in the toolchain image against it. */
const NOTIFICATION_CHECK = String.raw`
(async () => {
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.SUITE_SLEEP_MS || 0)));
  const sent = await fetch(process.env.SLIPWAY_URL + '/notify', { method: 'POST', body: JSON.stringify({ paid: 1 }) });
  if (sent.status !== 202) throw new Error('notify answered ' + sent.status + ': ' + (await sent.text()));
  console.log('check: notification reached the mail API');
})().catch((error) => {
  console.error('check failed: ' + error.message);
  process.exit(1);
});
`;

export function notificationFiles(options: { broken?: string } = {}): Record<string, string> {
  const env = options.broken ? `ENV BROKEN=${JSON.stringify(options.broken)}\n` : '';
  return { Dockerfile: dockerfile('').replace('CMD', `${env}CMD`), 'app.js': NOTIFICATION, 'check.js': NOTIFICATION_CHECK };
}

export function paymentFiles(): Record<string, string> {
  return { Dockerfile: dockerfile(''), 'app.js': PAYMENT };
}

export function suiteFiles(): Record<string, string> {
  return { Dockerfile: dockerfile(''), 'app.js': SUITE };
}
