// A Notifier tells people what happened (a run failed, a release waits for their approval, a
// deploy went live or was rolled back) over one channel: a Slack-compatible chat, a signed
// webhook, e-mail. The words come from message.ts; a channel only formats and delivers them.
// Below the port: what every channel shares (the attempt's deadline, errors without secrets)
// and the one JSON POST the two HTTP channels make.

import { STATUS_CODES } from 'node:http';
import type { NotificationEvent } from '../core/types.ts';

export { NOTIFICATION_EVENTS, type NotificationEvent } from '../core/types.ts';

/** One thing to tell people, already in words; channels only format it. */
export interface Notification {
  event: NotificationEvent;
  /** One line: "payment #12 is waiting for approval to enter production". */
  title: string;
  /** A few lines of detail (commit, release digest, who, why). */
  text: string;
  /** Where to look or act: the run, or the approval for approval.waiting. */
  link: string | null;
  service: string;
  environment: string | null;
  runId: number | null;
  /** E-mail addresses of people this is for (the approvers of approval.waiting); channels that address people use them. */
  recipients: string[];
  /** A stable id: the same notification sent again has the same id (receivers de-duplicate by it). */
  id: string;
  /** ISO time of what happened, as recorded. */
  at: string;
}

/**
 * Delivers notifications over one channel.
 *
 * Contract (test/unit/notifier-conformance.ts checks it against a live local receiver):
 *   - send() makes one attempt, with no retries of its own (the outbox retries with backoff),
 *     and resolves once the receiver accepted the notification (HTTP 2xx; SMTP 250 after DATA).
 *   - Otherwise it rejects with a NotifyError saying what the receiver answered (its status and
 *     the start of its answer) or why it could not be reached. `retryable` says whether a later
 *     attempt may succeed: yes for HTTP 429 and 5xx, SMTP 4xx, network errors, timeouts and an
 *     aborted signal; no for an answer the receiver would repeat (other HTTP 4xx, and 3xx:
 *     redirects are not followed; SMTP 5xx).
 *   - It never hangs: an attempt ends after its timeout (10 s unless its settings say
 *     otherwise) or as soon as `signal` aborts, whichever comes first.
 *   - No secret of its settings (credentials or tokens in a URL, the webhook's HMAC secret)
 *     appears in an error message, even when the receiver echoes it back.
 *   - Sending the same notification again delivers it again; receivers that care de-duplicate
 *     by its id (the webhook's X-Slipway-Delivery, the e-mail's Message-ID).
 */
export interface Notifier {
  readonly kind: 'slack' | 'webhook' | 'email';
  send(notification: Notification, signal?: AbortSignal): Promise<void>;
}

export class NotifyError extends Error {
  override readonly name = 'NotifyError';
  constructor(
    message: string,
    /** A later attempt may succeed. */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export const NOTIFY_TIMEOUT_MS = 10_000;
/** Enough of a receiver's answer to say why it refused; a page of HTML says no more. */
const ANSWER_CHARS = 200;

/** One attempt's bounds: the caller's signal and the attempt's own timeout. */
export class Attempt {
  readonly signal: AbortSignal;
  private readonly timeout: AbortSignal;

  constructor(
    private readonly timeoutMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.timeout = AbortSignal.timeout(timeoutMs);
    this.signal = caller ? AbortSignal.any([caller, this.timeout]) : this.timeout;
  }

  /** Why the attempt was cut short, or null when it was not: both are worth another attempt. */
  cut(receiver: string): NotifyError | null {
    if (this.caller?.aborted) return new NotifyError(`the notification to ${receiver} was aborted`, true);
    if (this.timeout.aborted) return new NotifyError(`${receiver} did not answer within ${this.timeoutMs / 1000} s`, true);
    return null;
  }
}

/** The text with every secret replaced; empty strings are no secret. */
export function withoutSecrets(text: string, secrets: readonly string[]): string {
  return secrets.filter((secret) => secret !== '').reduce((clean, secret) => clean.replaceAll(secret, '[secret]'), text);
}

/** A receiver's answer as one short line for a message. */
export function excerpt(answer: string): string {
  const line = answer.replace(/\s+/g, ' ').trim();
  return line.length <= ANSWER_CHARS ? line : `${line.slice(0, ANSWER_CHARS)}…`;
}

/**
 * A receiver as the two HTTP channels reach it. Credentials in its URL become a Basic
 * authorization header (fetch refuses URLs carrying them); messages name only its origin, since
 * the path may be the secret (a Slack webhook's token is).
 */
export class HttpEndpoint {
  private readonly url: string;
  private readonly name: string;
  private readonly secrets: string[];
  private readonly authorization: string | null;

  constructor(
    kind: Notifier['kind'],
    url: string,
    private readonly timeoutMs: number,
    secrets: string[] = [],
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`the ${kind} notifier's URL is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`the ${kind} notifier's URL must be http:// or https://`);
    const user = decoded(parsed.username);
    const password = decoded(parsed.password);
    const basic = user || password ? Buffer.from(`${user}:${password}`).toString('base64') : null;
    this.authorization = basic ? `Basic ${basic}` : null;
    const path = parsed.pathname + parsed.search;
    // A receiver echoing the request back may show the credentials as it got them, in base64.
    this.secrets = [...secrets, ...credentialsIn(url, parsed), basic ?? '', path === '/' ? '' : path];
    parsed.username = '';
    parsed.password = '';
    this.url = parsed.href;
    this.name = `the ${kind} receiver at ${parsed.origin}`;
  }

  /** POSTs a JSON body once and judges the answer; redirects are answers too, not followed. */
  async post(body: string, headers: Record<string, string>, signal?: AbortSignal): Promise<void> {
    const attempt = new Attempt(this.timeoutMs, signal);
    let status: number;
    let answer: string;
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', ...(this.authorization ? { authorization: this.authorization } : {}) },
        body,
        redirect: 'manual',
        signal: attempt.signal,
      });
      status = response.status;
      answer = await startOf(response);
    } catch (error) {
      throw this.clean(attempt.cut(this.name) ?? new NotifyError(`cannot reach ${this.name}: ${networkError(error)}`, true));
    }
    if (status >= 200 && status < 300) return;
    const said = `${this.name} answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
    const text = excerpt(answer);
    throw this.clean(new NotifyError(text ? `${said}: ${text}` : said, status === 429 || status >= 500));
  }

  private clean(error: NotifyError): NotifyError {
    return new NotifyError(withoutSecrets(error.message, this.secrets), error.retryable);
  }
}

/** The URL as written and its user and password, as written and decoded: none may be shown. */
export function credentialsIn(written: string, url: URL): string[] {
  return [written, url.username, url.password, decoded(url.username), decoded(url.password)];
}

function decoded(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

/** The start of a body, read no further than needed (a receiver may answer with megabytes). */
async function startOf(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    while (text.length <= ANSWER_CHARS * 4) {
      const chunk = await reader.read();
      if (chunk.done) return text + decoder.decode();
      text += decoder.decode(chunk.value, { stream: true });
    }
    await reader.cancel();
  } catch {
    // The status has been answered; a body cut short still says what it said.
  }
  return text;
}

/** fetch says "fetch failed"; its cause names what went wrong (ECONNREFUSED, ENOTFOUND, ...). */
function networkError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
