// POST /hooks/:forge — webhook deliveries from GitHub, GitLab, Gitea/Forgejo and plain git
// hooks. The listener only checks the envelope (method, size, content type) and maps the
// receiver's answer to HTTP; verification, storage and de-duplication are the receiver's.
//
//   202 accepted (stored; runs follow)      401 bad or missing signature or token
//   200 a repeated delivery, or a ping      400 malformed body
//   413 over the size limit, or over the    403 names another repository than the one
//       budget of all bodies in flight          whose secret verified it
//   415 not JSON                            404 unknown repository or forge
//                                           405 not a POST
//
// Bodies are read before anything can be verified, so anyone can send them. Besides each
// body's limit, the listener keeps a budget of the body bytes it holds across all requests (a
// flood of large or slowly sent bodies would otherwise hold memory without bound): a request
// that would go over it is refused at once, without reading more of it.
//
// A plain node:http listener rather than a route of the API's Hono app: webhooks are the one
// endpoint that takes bursts of thousands a second, and reading the body straight from the
// socket, without a fetch Request and web streams around it, halves the work per delivery.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { describeError, SlipwayError } from '../core/errors.ts';
import { assertNever } from '../core/types.ts';
import type { Reception, WebhookReceiver } from '../triggers/webhooks.ts';

/** GitHub caps a delivery at 25 MB; nothing legitimate is larger. */
export const DEFAULT_MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/** Body bytes held at once across all webhook requests: a few of the largest deliveries, thousands of usual ones. */
export const DEFAULT_WEBHOOK_BUDGET_BYTES = 64 * 1024 * 1024;

export const HOOKS_PREFIX = '/hooks/';

/** The listener, and how many body bytes it holds now (read so far, or being handled), never over its budget. */
export type WebhookListener = RequestListener & { readonly bodyBytes: number };

/** The body bytes held by all requests together, kept under a budget. */
class BodyBudget {
  used = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes` when they fit in what is left, and answers whether they did. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * Serves /hooks/<forge>; `log` hears of unexpected failures (answered 500 without details).
 * `maxBytes` limits each body, `budgetBytes` all bodies held at once.
 */
export function webhookListener(
  receiver: WebhookReceiver,
  maxBytes = DEFAULT_MAX_WEBHOOK_BYTES,
  log: (message: string) => void = () => {},
  budgetBytes = DEFAULT_WEBHOOK_BUDGET_BYTES,
): WebhookListener {
  const budget = new BodyBudget(budgetBytes);
  const listener: RequestListener = (request, response) => {
    const held = { bytes: 0 };
    // The body is held until the answer is sent (or the connection is gone), whichever way.
    response.once('close', () => {
      budget.give(held.bytes);
      held.bytes = 0;
    });
    receive(receiver, { maxBytes, budget, held }, request).then(
      (answer) => send(response, answer.status, answer.body),
      (error: unknown) => {
        if (error instanceof SlipwayError) {
          // A body left unread would be drained by node before the next request on the
          // connection; over a limit, closing is cheaper than reading up to 25 MB more.
          if (error.code === 'PAYLOAD_TOO_LARGE') response.setHeader('connection', 'close');
          send(response, error.status, { error: error.toJSON() });
          return;
        }
        log(`internal error on ${request.method} ${request.url}: ${error instanceof Error ? (error.stack ?? error.message) : describeError(error)}`);
        send(response, 500, { error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } });
      },
    );
  };
  return Object.defineProperty(listener, 'bodyBytes', { get: () => budget.used, enumerable: true }) as WebhookListener;
}

interface Limits {
  maxBytes: number;
  budget: BodyBudget;
  /** What this request holds of the budget. */
  held: { bytes: number };
}

async function receive(receiver: WebhookReceiver, limits: Limits, request: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const path = (request.url ?? '').split('?')[0]!;
  const forge = path.startsWith(HOOKS_PREFIX) ? forgeIn(path.slice(HOOKS_PREFIX.length)) : null;
  if (forge === null) throw new SlipwayError('NOT_FOUND', `no route ${request.method} ${path}`);
  if (request.method !== 'POST') throw new SlipwayError('METHOD_NOT_ALLOWED', `${path} takes POST, not ${request.method}`);
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new SlipwayError(
      'UNSUPPORTED_MEDIA_TYPE',
      `expected content type application/json, got ${type || 'none'} (set the webhook's content type to application/json)`,
    );
  }
  const body = await readBody(request, limits);
  return answer(await receiver.receive(forge, request.headers, body));
}

/** The forge a path segment names, or null when it names none (empty, nested, bad escapes). */
function forgeIn(segment: string): string | null {
  try {
    const forge = decodeURIComponent(segment);
    return forge === '' || forge.includes('/') ? null : forge;
  } catch {
    return null;
  }
}

function answer(reception: Reception): { status: number; body: unknown } {
  switch (reception.kind) {
    case 'rejected':
      throw reception.error;
    case 'repeated':
      return { status: 200, body: { status: 'repeated', deliveryId: reception.deliveryId, message: 'this delivery was received before; nothing new was started' } };
    case 'accepted': {
      const { id, deliveryId, event, status, outcome } = reception.delivery;
      if (event === 'ping') return { status: 200, body: { status: 'pong', delivery: id, deliveryId } };
      // Stored processed already: known to start nothing, and the forge's delivery log says why.
      if (status === 'processed') return { status: 202, body: { status: 'ignored', delivery: id, deliveryId, event, outcome } };
      return { status: 202, body: { status: 'accepted', delivery: id, deliveryId, event } };
    }
    default:
      return assertNever(reception, 'reception');
  }
}

/**
 * The whole body, refused as soon as it is known to be over its limit or to not fit in the
 * budget (by its declared length, or while reading); each chunk is taken from the budget
 * before it is kept.
 */
function readBody(request: IncomingMessage, { maxBytes, budget, held }: Limits): Promise<Buffer> {
  const tooLarge = () => new SlipwayError('PAYLOAD_TOO_LARGE', `the body is over the limit of ${maxBytes} bytes`);
  const overBudget = () =>
    new SlipwayError('PAYLOAD_TOO_LARGE', `webhook bodies being received are at the server's limit of ${budget.limit} bytes in all; send it again later`);
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.reject(tooLarge());
  if (!budget.fits(declared)) return Promise.reject(overBudget());
  return new Promise((resolve, reject) => {
    // Emptied once done with (the request's listeners keep this array until it is gone), so
    // the budget counts what is really held: one copy of the body.
    const chunks: Buffer[] = [];
    let length = 0;
    const refuse = (error: SlipwayError) => {
      request.off('data', onData).pause();
      chunks.length = 0;
      budget.give(held.bytes);
      held.bytes = 0;
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      if (length + chunk.length > maxBytes) return refuse(tooLarge());
      if (!budget.take(chunk.length)) return refuse(overBudget());
      held.bytes += chunk.length;
      length += chunk.length;
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      chunks.length = 0;
      resolve(body);
    });
    // The sender went away mid-body (node reports it as an error): no one is left to answer.
    request.on('error', () => reject(new SlipwayError('BAD_REQUEST', 'the connection closed before the whole body arrived')));
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
