// Notifications as signed JSON to any HTTP endpoint, signed the way GitHub signs its webhooks:
// X-Slipway-Signature-256 is "sha256=" and the hex HMAC-SHA256 of the exact body bytes.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpEndpoint, NOTIFY_TIMEOUT_MS, type Notification, type Notifier } from '../notifier.ts';

export interface WebhookSettings {
  /** Where to POST; user and password in it are sent as Basic authorization. */
  url: string;
  /** The HMAC key the receiver checks the signature with. */
  secret: string;
  /** How long one attempt may take; 10 s unless set. */
  timeoutMs?: number;
}

export class WebhookNotifier implements Notifier {
  readonly kind = 'webhook' as const;
  private readonly endpoint: HttpEndpoint;

  constructor(private readonly settings: WebhookSettings) {
    if (settings.secret === '') throw new Error('the webhook notifier needs a secret to sign with');
    this.endpoint = new HttpEndpoint(this.kind, settings.url, settings.timeoutMs ?? NOTIFY_TIMEOUT_MS, [settings.secret]);
  }

  send(notification: Notification, signal?: AbortSignal): Promise<void> {
    // JSON.stringify escapes lone surrogates, so these UTF-8 bytes are exactly what fetch sends.
    const body = JSON.stringify(payloadOf(notification));
    const headers = {
      'user-agent': 'Slipway',
      'x-slipway-event': notification.event,
      'x-slipway-delivery': notification.id,
      'x-slipway-signature-256': signatureOf(Buffer.from(body), this.settings.secret),
    };
    return this.endpoint.post(body, headers, signal);
  }
}

/**
 * Whether `header` (X-Slipway-Signature-256) signs `body`, the bytes exactly as received, with
 * `secret`. Compared in constant time; a malformed header is no signature.
 */
export function verifyWebhookSignature(body: Buffer, header: string, secret: string): boolean {
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected);
}

function signatureOf(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The notification's own fields, in a fixed order: whatever else the caller's object holds stays here. */
function payloadOf(n: Notification): Notification {
  return {
    event: n.event,
    title: n.title,
    text: n.text,
    link: n.link,
    service: n.service,
    environment: n.environment,
    runId: n.runId,
    recipients: n.recipients,
    id: n.id,
    at: n.at,
  };
}
