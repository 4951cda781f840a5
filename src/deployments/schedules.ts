// Scheduled promotion: an environment's `promote_schedule` (a weekly production release) fires
// on the same cron runner as run schedules, with its own durable cursor, and at each tick
// promotes, for every service deploying there, the newest release that finished its soak in
// the environment before. The promotion then goes through the environment's gate like any.

import type { Config } from '../config/model.ts';
import { chainFor } from '../delivery/chain.ts';
import type { CursorRepository } from '../store/store.ts';
import { ScheduleRunner } from '../triggers/schedules.ts';
import type { Deployments } from './service.ts';

/** Cursor and log names: "promote/<environment>". */
export const PROMOTION_SCHEDULE_PREFIX = 'promote/';

export function promotionSchedules(config: Config, deployments: Deployments, cursors: CursorRepository, options: { now?: () => Date; log?: (message: string) => void } = {}): ScheduleRunner {
  const log = options.log ?? (() => {});
  const schedules = Object.entries(config.environments).flatMap(([environment, settings]) => {
    if (!settings.promote_schedule) return [];
    const services = Object.keys(config.services).filter((service) => chainFor(config, service).some((link) => link.environment === environment));
    return [{ name: `${PROMOTION_SCHEDULE_PREFIX}${environment}`, cron: settings.promote_schedule.cron, timezone: settings.promote_schedule.timezone, services, ref: null, variables: {} }];
  });
  return new ScheduleRunner({
    schedules,
    cursors,
    now: options.now,
    log,
    async startRun(request) {
      const environment = request.trigger.by.slice(PROMOTION_SCHEDULE_PREFIX.length);
      try {
        const outcome = await deployments.promoteSoaked(request.service, environment, `schedule ${request.trigger.by}`);
        if ('skipped' in outcome) log(`${request.trigger.by}: ${request.service}: ${outcome.skipped}`);
        return { ok: true };
      } catch (error) {
        return { ok: false, error: { message: (error as Error).message } };
      }
    },
  });
}
