// GET /api/notification-channels (admins): the channels slipway.yml defines, where each sends (no
// secret), what it listens to, and how its recent notifications went, read from the outbox.

import { Hono } from 'hono';
import type { NotificationChannelListing } from '../client/api.ts';
import type { Config } from '../config/model.ts';
import { describeChannelTarget } from '../config/notifications.ts';
import type { Store } from '../store/store.ts';
import { allow, type ApiEnv, type Refusals } from './auth.ts';

/** How far back "recent" reaches, over every channel's notifications. */
const RECENT_NOTIFICATIONS = 500;

export function notificationsRoutes(config: () => Config, store: Store, refusals: Refusals): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  routes.get('/notification-channels', allow('admin', refusals), async (c) => {
    const recent = await store.outbox.list({ topic: 'notification', limit: RECENT_NOTIFICATIONS });
    const listing = config().notifications.channels.map((channel): NotificationChannelListing => {
      const mine = recent.filter((item) => item.destination === channel.name);
      const sent = mine.filter((item) => item.status === 'sent');
      const lastError = mine.filter((item) => item.lastError !== null && item.status !== 'sent').sort((a, b) => b.id - a.id)[0]?.lastError ?? null;
      return {
        name: channel.name,
        type: channel.type,
        target: describeChannelTarget(channel),
        events: channel.events,
        services: channel.services,
        environments: channel.environments,
        recent: { sent: sent.length, pending: mine.filter((item) => item.status === 'pending').length, failed: mine.filter((item) => item.status === 'failed').length },
        lastSentAt: sent.map((item) => item.doneAt).filter((at): at is string => at !== null).sort().at(-1) ?? null,
        lastError,
      };
    });
    return c.json(listing);
  });

  return routes;
}
