// Notifications by e-mail through an SMTP server, with nodemailer: one connection per attempt
// (notifications are few; a pool would hold connections the server may drop meanwhile).

import { createHash } from 'node:crypto';
import { createTransport, type Mail } from 'nodemailer';
import { Attempt, credentialsIn, excerpt, NOTIFY_TIMEOUT_MS, NotifyError, withoutSecrets, type Notification, type Notifier } from '../notifier.ts';

export interface EmailSettings {
  /** smtp://user:pass@host:port (STARTTLS when the server offers it) or smtps://... (TLS from the start). */
  smtp: string;
  /** The sender: "ci@example.com" or "Slipway <ci@example.com>". */
  from: string;
  /** Who gets every notification; each notification's own recipients are added. */
  to: string[];
  /** How long one attempt may take; 10 s unless set. */
  timeoutMs?: number;
}

/** Errors that ended the connection rather than refused the message: a later attempt may get through. */
const CONNECTION_ERRORS = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'EDNS', 'EPROXY', 'ETLS']);

/**
 * Sends each notification as one message to `to` and the notification's recipients together.
 * A notification with nobody to address is sent to nobody, and that is not an error. A message
 * the server accepts for some recipients and refuses for others counts as sent: another attempt
 * would send it twice to the first.
 */
export class EmailNotifier implements Notifier {
  readonly kind = 'email' as const;
  private readonly transport: Mail;
  private readonly server: string;
  private readonly secrets: string[];
  private readonly timeoutMs: number;

  constructor(private readonly settings: EmailSettings) {
    let url: URL;
    try {
      url = new URL(settings.smtp);
    } catch {
      throw new Error('the email notifier\'s smtp setting is not a URL');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new Error('the email notifier\'s smtp setting must be smtp:// or smtps://');
    this.server = `the mail server at ${url.protocol}//${url.host}`;
    this.secrets = credentialsIn(settings.smtp, url);
    this.timeoutMs = settings.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    // No timeouts of nodemailer's own: the attempt's signal ends the whole send, connection and all.
    this.transport = createTransport(settings.smtp);
  }

  async send(notification: Notification, signal?: AbortSignal): Promise<void> {
    const to = addressees([...this.settings.to, ...notification.recipients]);
    if (to.length === 0) return;
    const attempt = new Attempt(this.timeoutMs, signal);
    try {
      await this.transport.sendMail({
        from: this.settings.from,
        to,
        subject: notification.title,
        text: notification.link ? `${notification.text}\n\n${notification.link}` : notification.text,
        html: htmlOf(notification),
        messageId: messageIdOf(notification.id, this.settings.from),
        date: new Date(notification.at),
        // RFC 3834: tells auto-responders (vacation replies) not to answer.
        headers: { 'Auto-Submitted': 'auto-generated', 'X-Slipway-Event': notification.event },
        signal: attempt.signal,
      });
    } catch (error) {
      const failure = attempt.cut(this.server) ?? this.explain(error);
      throw new NotifyError(withoutSecrets(failure.message, this.secrets), failure.retryable);
    }
  }

  private explain(error: unknown): NotifyError {
    const failure = error as { code?: unknown; responseCode?: unknown; permanent?: unknown; response?: unknown; message?: unknown };
    if (typeof failure.responseCode === 'number') {
      // nodemailer reads the reply class: 5xx is permanent (but 503, a session out of step), 4xx is not.
      const said = typeof failure.response === 'string' ? failure.response : String(failure.message);
      return new NotifyError(`${this.server} answered ${excerpt(said)}`, failure.permanent !== true);
    }
    const code = typeof failure.code === 'string' ? failure.code : '';
    const reason = excerpt(`${code ? `${code}: ` : ''}${String(failure.message ?? error)}`);
    if (CONNECTION_ERRORS.has(code)) return new NotifyError(`cannot reach ${this.server}: ${reason}`, true);
    return new NotifyError(`${this.server} refused the message: ${reason}`, false);
  }
}

/** Each address once, compared without case; the first spelling is kept. */
function addressees(addresses: string[]): string[] {
  const seen = new Set<string>();
  return addresses.filter((address) => {
    const key = bareAddress(address).toLowerCase();
    if (key === '' || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** "Ops <ops@example.com>" -> "ops@example.com". */
function bareAddress(address: string): string {
  return (/<([^<>]*)>\s*$/.exec(address)?.[1] ?? address).trim();
}

/**
 * The same notification always gets the same Message-ID, so mail clients and archives keep one
 * copy of it however often it is sent. The id is hashed to fit Message-ID's characters.
 */
function messageIdOf(id: string, from: string): string {
  const domain = /@([^\s@<>]+)$/.exec(bareAddress(from))?.[1] ?? 'slipway';
  return `<slipway.${createHash('sha256').update(id).digest('hex').slice(0, 32)}@${domain}>`;
}

function htmlOf(notification: Notification): string {
  const title = html(notification.title);
  const heading = notification.link ? `<a href="${html(notification.link)}">${title}</a>` : title;
  const detail = notification.text ? `\n<p>${notification.text.split('\n').map(html).join('<br>\n')}</p>` : '';
  return `<p><strong>${heading}</strong></p>${detail}\n`;
}

function html(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}
