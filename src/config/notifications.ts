// The `notifications:` section of slipway.yml: the channels people are told through, and what
// each one wants to hear. One object per channel (not a union by type) so a mistake is named by
// its field: "smtp applies to email channels only", not "no union member matched".

import { z } from 'zod';
import { assertNever } from '../core/types.ts';
import type { EmailSettings } from '../notifiers/email/notifier.ts';
import { NOTIFICATION_EVENTS, type NotificationEvent } from '../core/types.ts';
import type { SlackSettings } from '../notifiers/slack/notifier.ts';
import type { WebhookSettings } from '../notifiers/webhook/notifier.ts';
import { SecretValue } from './units.ts';

export const CHANNEL_TYPES = ['slack', 'webhook', 'email'] as const;
type ChannelType = (typeof CHANNEL_TYPES)[number];

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const EVENT = z.enum(NOTIFICATION_EVENTS, { error: `expected events among ${NOTIFICATION_EVENTS.join(', ')}` });
const ADDRESS = z.string().regex(/@/, 'expected an e-mail address such as ci@example.com');
const names = (what: string) => z.array(z.string().min(1, `expected ${what} name`)).min(1, `expected at least one ${what} (leave it out for all)`);

/** The fields each type takes beyond the shared ones; any other is a mistake worth naming. */
const FIELDS: Record<ChannelType, readonly string[]> = {
  slack: ['url', 'channel', 'username'],
  webhook: ['url', 'secret'],
  email: ['smtp', 'from', 'to'],
};

const RawChannel = z
  .object({
    name: z.string().regex(NAME, "expected a channel name of lower-case letters, digits, '-' and '_'"),
    type: z.enum(CHANNEL_TYPES, { error: `expected one of ${CHANNEL_TYPES.join(', ')}` }),
    /** slack: the incoming webhook's URL (its path is its secret); webhook: where to POST. */
    url: SecretValue.optional(),
    /** webhook: the HMAC key its X-Slipway-Signature-256 is made with. */
    secret: SecretValue.optional(),
    /** slack: post to this channel and under this name instead of the webhook's own. */
    channel: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    /** email: smtp://user:password@host:port (STARTTLS when offered) or smtps://... */
    smtp: SecretValue.optional(),
    from: ADDRESS.optional(),
    /** email: who gets every notification; approval requests also go to the approvers. */
    to: z.array(ADDRESS).optional(),
    /** What this channel is told; every event when left out. */
    events: z.array(EVENT).min(1, 'expected at least one event (leave "events" out for all)').optional(),
    /** Only these services' notifications; all when left out. */
    services: names('a service').optional(),
    /**
     * Only notifications about these environments (approvals, deploys, rollbacks); when set, run
     * failures and fixes, which concern no environment, are not sent here.
     */
    environments: names('an environment').optional(),
  })
  .strict();

/** A channel as the notifier for it is built: its type's settings, and what it subscribes to. */
export type NotificationChannel = {
  name: string;
  events: NotificationEvent[];
  /** Null: every service (or environment). */
  services: string[] | null;
  environments: string[] | null;
} & ({ type: 'slack'; settings: SlackSettings } | { type: 'webhook'; settings: WebhookSettings } | { type: 'email'; settings: EmailSettings });

type RawChannel = z.output<typeof RawChannel>;

const Channel = RawChannel.transform((raw, ctx): NotificationChannel => {
  const subscription = { name: raw.name, events: raw.events ?? [...NOTIFICATION_EVENTS], services: raw.services ?? null, environments: raw.environments ?? null };
  for (const field of Object.values(FIELDS).flat()) {
    if (raw[field as keyof RawChannel] !== undefined && !FIELDS[raw.type].includes(field)) {
      const owners = CHANNEL_TYPES.filter((type) => FIELDS[type].includes(field));
      ctx.addIssue({ code: 'custom', path: [field], message: `${field} applies to ${owners.join(' and ')} channels only` });
    }
  }
  const required = (field: 'url' | 'secret' | 'smtp' | 'from', why: string): string => {
    const value = raw[field];
    if (value === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a ${raw.type} channel needs "${field}": ${why}` });
    return value ?? '';
  };
  switch (raw.type) {
    case 'slack': {
      const url = httpUrl(required('url', 'the incoming webhook to post to'), ctx);
      return { ...subscription, type: 'slack', settings: { url, ...(raw.channel ? { channel: raw.channel } : {}), ...(raw.username ? { username: raw.username } : {}) } };
    }
    case 'webhook': {
      const url = httpUrl(required('url', 'where to POST'), ctx);
      return { ...subscription, type: 'webhook', settings: { url, secret: required('secret', 'the key to sign with') } };
    }
    case 'email': {
      const smtp = required('smtp', 'the mail server to send through');
      // Custom issues only: the loader quotes a refused value, and this one may hold a password.
      if (smtp !== '' && !/^smtps?:$/.test(protocolOf(smtp) ?? '')) {
        ctx.addIssue({ code: 'custom', path: ['smtp'], message: 'expected smtp://user:password@host:port or smtps://user:password@host:port' });
      }
      return { ...subscription, type: 'email', settings: { smtp, from: required('from', 'the sender'), to: raw.to ?? [] } };
    }
    default:
      return assertNever(raw.type, 'channel type');
  }
});

export const Notifications = z
  .object({ channels: z.array(Channel).default([]) })
  .strict()
  .superRefine(({ channels }, ctx) => {
    const seen = new Set<string>();
    channels.forEach((channel, index) => {
      if (seen.has(channel.name)) ctx.addIssue({ code: 'custom', path: ['channels', index, 'name'], message: `channel ${channel.name} appears twice` });
      seen.add(channel.name);
    });
  });
export type Notifications = z.output<typeof Notifications>;

/** Checks against the rest of the file, for Config's superRefine: each service and environment a channel names exists. */
export function checkNotifications(
  config: { services: Record<string, unknown>; environments: Record<string, unknown>; notifications: Notifications },
  ctx: z.RefinementCtx,
): void {
  config.notifications.channels.forEach((channel, index) => {
    const check = (field: 'services' | 'environments', known: Record<string, unknown>, what: string) =>
      channel[field]?.forEach((name, position) => {
        if (!Object.hasOwn(known, name)) {
          ctx.addIssue({ code: 'custom', path: ['notifications', 'channels', index, field, position], message: `${what} ${name} is not defined under "${field}"` });
        }
      });
    check('services', config.services, 'service');
    check('environments', config.environments, 'environment');
  });
}

/** The URL itself when it is http(s); else an issue that does not quote it (its path may be a token). */
function httpUrl(url: string, ctx: z.RefinementCtx): string {
  if (url !== '' && !/^https?:$/.test(protocolOf(url) ?? '')) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected an http:// or https:// URL' });
  }
  return url;
}

function protocolOf(url: string): string | null {
  try {
    return new URL(url).protocol;
  } catch {
    return null;
  }
}


/**
 * Where a channel sends, for people and the API: hosts and addresses only. A Slack or webhook
 * URL's path and query, and an SMTP URL's user and password, are secrets and never appear.
 */
export function describeChannelTarget(channel: NotificationChannel): string {
  switch (channel.type) {
    case 'slack':
      return `Slack via ${hostOf(channel.settings.url)}${channel.settings.channel ? ` to ${channel.settings.channel}` : ''}`;
    case 'webhook':
      return `POST to ${originOf(channel.settings.url)}`;
    case 'email': {
      const to = channel.settings.to.length > 0 ? channel.settings.to.join(', ') : 'the approvers';
      return `e-mail to ${to} from ${channel.settings.from} via ${hostOf(channel.settings.smtp)}`;
    }
    default:
      return assertNever(channel, 'channel');
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an address that does not parse';
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an address that does not parse';
  }
}
