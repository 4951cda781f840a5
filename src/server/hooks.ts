// POST /hooks/:forge — webhook deliveries from GitHub, GitLab, Gitea/Forgejo and plain git
// hooks. The listener only checks the envelope (method, size, content type) and maps the
// receiver's answer to HTTP; verification, storage and de-duplication are the receiver's.
//
//   202 accepted (stored; runs follow)      401 bad or missing signature or token
//   200 a repeated delivery, or a ping      400 malformed body
//   413 over the size limit                 404 unknown repository or forge
//   415 not JSON                            405 not a POST
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

export const HOOKS_PREFIX = '/hooks/';

/** Serves /hooks/<forge>; `log` hears of unexpected failures (answered 500 without details). */
export function webhookListener(receiver: WebhookReceiver, maxBytes = DEFAULT_MAX_WEBHOOK_BYTES, log: (message: string) => void = () => {}): RequestListener {
  return (request, response) => {
    receive(receiver, maxBytes, request).then(
      (answer) => send(response, answer.status, answer.body),
      (error: unknown) => {
        if (error instanceof SlipwayError) {
          // A body left unread would be drained by node before the next request on the
          // connection; over the limit, closing is cheaper than reading up to 25 MB more.
          if (error.code === 'PAYLOAD_TOO_LARGE') response.setHeader('connection', 'close');
          send(response, error.status, { error: error.toJSON() });
          return;
        }
        log(`internal error on ${request.method} ${request.url}: ${error instanceof Error ? (error.stack ?? error.message) : describeError(error)}`);
        send(response, 500, { error: { code: 'INTERNAL', message: 'internal error; the server log has the details' } });
      },
    );
  };
}

async function receive(receiver: WebhookReceiver, maxBytes: number, request: IncomingMessage): Promise<{ status: number; body: unknown }> {
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
  const body = await readBody(request, maxBytes);
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

/** The whole body, refused as soon as it is known to be over the limit (by its declared length, or while reading). */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new SlipwayError('PAYLOAD_TOO_LARGE', `the body is over the limit of ${maxBytes} bytes`);
  if (Number(request.headers['content-length'] ?? 0) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData).pause();
      reject(tooLarge());
    };
    request.on('data', onData);
    request.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
