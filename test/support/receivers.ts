// Real receivers on 127.0.0.1 for the notifiers' tests: an HTTP server that records every request
// and answers as told, and an SMTP server (smtp-server) that records every message, parsed.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The body's bytes exactly as received. */
  body: Buffer;
}

/** A request and the status it was answered with (null: never answered). */
export type AnsweredRequest = RecordedRequest & { status: number | null };

/** How the HTTP receiver answers a request; 'hang' never answers. */
export type HttpAnswer = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

export interface HttpReceiver {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  readonly requests: AnsweredRequest[];
  /** Bodies of the requests answered 2xx. */
  accepted(): Buffer[];
  /** How the next requests are answered; 200 "ok" until set. */
  answer: (request: RecordedRequest) => HttpAnswer;
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const reply = receiver.answer(request);
      receiver.requests.push({ ...request, status: reply === 'hang' ? null : reply.status });
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'text/plain; charset=utf-8', ...reply.headers });
      res.end(reply.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: HttpReceiver = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: [],
    accepted: () => receiver.requests.filter(({ status }) => status !== null && status >= 200 && status < 300).map(({ body }) => body),
    answer: () => ({ status: 200, body: 'ok' }),
    close: () =>
      new Promise<void>((resolve) => {
        // A hanging request holds its connection open; close() alone would wait for it.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

export interface ReceivedMail {
  /** The envelope, as given in MAIL FROM and RCPT TO. */
  from: string;
  to: string[];
  /** The user the client logged in as. */
  user: string | null;
  raw: Buffer;
  parsed: ParsedMail;
}

/** How the SMTP receiver answers a message's DATA; 'hang' never greets a new connection. */
export type SmtpAnswer = 'accept' | 'hang' | { code: number; message: string };

export interface SmtpReceiver {
  readonly host: string;
  readonly port: number;
  readonly mails: ReceivedMail[];
  /** Connections made, whatever became of them. */
  readonly connections: number;
  answer: SmtpAnswer;
  close(): Promise<void>;
}

/** An SMTP server on 127.0.0.1 that takes only `user` and `pass`, over plain text (no STARTTLS to trust). */
export async function startSmtpReceiver(credentials: { user: string; pass: string }): Promise<SmtpReceiver> {
  let connections = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    closeTimeout: 200,
    onConnect(_session, callback) {
      connections += 1;
      if (receiver.answer !== 'hang') callback();
    },
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.user && auth.password === credentials.pass) return callback(null, { user: auth.username });
      return callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const answer = receiver.answer;
        if (typeof answer === 'object') return callback(Object.assign(new Error(answer.message), { responseCode: answer.code }));
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const envelope = session.envelope;
            receiver.mails.push({
              from: envelope.mailFrom ? envelope.mailFrom.address : '',
              to: envelope.rcptTo.map((recipient) => recipient.address),
              user: typeof session.user === 'string' ? session.user : null,
              raw,
              parsed,
            });
            callback();
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: SmtpReceiver = {
    host: '127.0.0.1',
    port: (server.server.address() as AddressInfo).port,
    mails: [],
    get connections() {
      return connections;
    },
    answer: 'accept',
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return receiver;
}

/**
 * The answers of an HTTP receiver in the notifier suite: accept, refuse for now (503) or for good
 * (400), both saying `echo` back as careless receivers do, or never answer.
 */
export function notifierAnswers(echo: string): Record<'accept' | 'transient' | 'permanent' | 'hang', HttpAnswer> {
  return {
    accept: { status: 200, body: 'ok' },
    transient: { status: 503, body: `<html><body>Service Unavailable (${echo})</body></html>` },
    permanent: { status: 400, body: `invalid_payload: ${echo}` },
    hang: 'hang',
  };
}
