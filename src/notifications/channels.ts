// The channels of slipway.yml's `notifications:` as notifiers, and the outbox's sender of
// notification items: each goes to the channel its destination names.

import type { NotificationChannel } from '../config/notifications.ts';
import { assertNever } from '../core/types.ts';
import { EmailNotifier } from '../notifiers/email/notifier.ts';
import { NotifyError, type Notification, type Notifier } from '../notifiers/notifier.ts';
import { SlackNotifier } from '../notifiers/slack/notifier.ts';
import { WebhookNotifier } from '../notifiers/webhook/notifier.ts';
import type { OutboxSender } from './outbox.ts';

export function notifierFor(channel: NotificationChannel): Notifier {
  switch (channel.type) {
    case 'slack':
      return new SlackNotifier(channel.settings);
    case 'webhook':
      return new WebhookNotifier(channel.settings);
    case 'email':
      return new EmailNotifier(channel.settings);
    default:
      return assertNever(channel, 'notification channel');
  }
}

/** Sends notification items through the channels' notifiers, made once here. */
export function notificationSender(channels: NotificationChannel[]): OutboxSender {
  const notifiers = new Map(channels.map((channel) => [channel.name, notifierFor(channel)]));
  // The payload is the Notification the dispatcher stored.
  const notificationOf = (payload: unknown) => payload as Notification;
  return {
    send(item, signal) {
      const notifier = notifiers.get(item.destination);
      // A channel removed from slipway.yml since the item was stored: no later attempt can reach it.
      if (!notifier) return Promise.reject(new NotifyError(`no notification channel is named ${item.destination}`, false));
      return notifier.send(notificationOf(item.payload), signal);
    },
    describe(item) {
      const notification = notificationOf(item.payload);
      return {
        runId: notification.runId,
        service: notification.service,
        environment: notification.environment,
        summary: `${notification.event} of ${notification.service}${notification.runId === null ? '' : ` #${notification.runId}`}`,
        data: { event: notification.event, notificationId: notification.id },
      };
    },
  };
}
