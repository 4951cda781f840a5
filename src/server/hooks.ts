// POST /hooks/:forge — webhook deliveries from GitHub, GitLab, Gitea/Forgejo and plain git
// hooks. The route only checks the envelope (size, content type) and maps the receiver's
// answer to HTTP; verification, storage and de-duplication are the receiver's.
//
//   202 accepted (stored; runs follow)      401 bad or missing signature or token
//   200 a repeated delivery, or a ping      400 malformed body
//   413 over the size limit                 404 unknown repository or forge
//   415 not JSON

import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { SlipwayError } from '../core/errors.ts';
import { assertNever } from '../core/types.ts';
import type { WebhookReceiver } from '../triggers/webhooks.ts';

/** GitHub caps a delivery at 25 MB; nothing legitimate is larger. */
export const DEFAULT_MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export function webhookRoutes(receiver: WebhookReceiver, maxBytes = DEFAULT_MAX_WEBHOOK_BYTES): Hono {
  const hooks = new Hono();
  hooks.post(
    '/:forge',
    bodyLimit({
      maxSize: maxBytes,
      onError: (c) => {
        // The body is left unread, and @hono/node-server destroys a socket whose unread body
        // does not drain within 500 ms, cutting whatever request is on it by then: close the
        // connection with this answer instead of keeping it alive.
        c.header('Connection', 'close');
        throw new SlipwayError('PAYLOAD_TOO_LARGE', `the body is over the limit of ${maxBytes} bytes`);
      },
    }),
    async (c) => {
      const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') {
        throw new SlipwayError(
          'UNSUPPORTED_MEDIA_TYPE',
          `expected content type application/json, got ${type || 'none'} (set the webhook's content type to application/json)`,
        );
      }
      const body = Buffer.from(await c.req.arrayBuffer());
      const reception = await receiver.receive(c.req.param('forge'), c.req.header(), body);
      switch (reception.kind) {
        case 'rejected':
          throw reception.error;
        case 'repeated':
          return c.json({ status: 'repeated', deliveryId: reception.deliveryId, message: 'this delivery was received before; nothing new was started' }, 200);
        case 'accepted': {
          const { id, deliveryId, event } = reception.delivery;
          if (event === 'ping') return c.json({ status: 'pong', delivery: id, deliveryId }, 200);
          return c.json({ status: event === 'ignored' ? 'ignored' : 'accepted', delivery: id, deliveryId, event }, 202);
        }
        default:
          return assertNever(reception, 'reception');
      }
    },
  );
  return hooks;
}
