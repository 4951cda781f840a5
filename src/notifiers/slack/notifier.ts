// Notifications into a chat through a Slack-compatible incoming webhook: Slack's own, and
// Mattermost's and Rocket.Chat's, which take the same { text, channel, username } body and the
// same <url|label> links.

import { HttpEndpoint, NOTIFY_TIMEOUT_MS, type Notification, type Notifier } from '../notifier.ts';

export interface SlackSettings {
  /** The incoming webhook's URL; its path is its secret. */
  url: string;
  /** Posts to this channel instead of the webhook's own (where the chat lets a webhook choose). */
  channel?: string;
  /** Posts under this name instead of the webhook's own. */
  username?: string;
  /** How long one attempt may take; 10 s unless set. */
  timeoutMs?: number;
}

export class SlackNotifier implements Notifier {
  readonly kind = 'slack' as const;
  private readonly endpoint: HttpEndpoint;

  constructor(private readonly settings: SlackSettings) {
    this.endpoint = new HttpEndpoint(this.kind, settings.url, settings.timeoutMs ?? NOTIFY_TIMEOUT_MS);
  }

  send(notification: Notification, signal?: AbortSignal): Promise<void> {
    const { channel, username } = this.settings;
    const body = { text: slackText(notification), ...(channel ? { channel } : {}), ...(username ? { username } : {}) };
    return this.endpoint.post(JSON.stringify(body), { 'user-agent': 'Slipway' }, signal);
  }
}

/** The title, linked where there is a link, over the detail, in Slack's mrkdwn. */
export function slackText(notification: Notification): string {
  const title = escaped(notification.title);
  const heading = notification.link ? `<${linkTarget(notification.link)}|${title}>` : title;
  return notification.text ? `${heading}\n${escaped(notification.text)}` : heading;
}

/** Slack reads &, < and > as its own markup; these three are all it asks to escape. */
function escaped(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A URL inside <url|label> may not hold the characters that end it. */
function linkTarget(url: string): string {
  return url.replaceAll('|', '%7C').replaceAll('<', '%3C').replaceAll('>', '%3E');
}
