// How releases move through an environment: who approves them, how long they soak, when they
// may be promoted and when not at all. model.ts spreads `deliveryFields` into each environment.

import { z } from 'zod';
import { ROLES } from '../core/types.ts';
import { isKnownTimeZone, validateSchedule } from '../triggers/schedules.ts';
import { Duration } from './units.ts';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const DAY_NAMES: Record<string, readonly Weekday[]> = {
  daily: WEEKDAYS,
  weekdays: WEEKDAYS.slice(0, 5),
  weekends: WEEKDAYS.slice(5),
};

function isWeekday(value: string): value is Weekday {
  return (WEEKDAYS as readonly string[]).includes(value);
}

/** "mon", "mon-fri" (wrapping: "fri-mon" is fri, sat, sun, mon), "weekdays", "weekends" or "daily"; null when it is none of these. */
function daysOf(term: string): readonly Weekday[] | null {
  const text = term.trim().toLowerCase();
  if (DAY_NAMES[text]) return DAY_NAMES[text];
  if (isWeekday(text)) return [text];
  const [first, last, ...rest] = text.split('-').map((part) => part.trim());
  if (rest.length > 0 || first === undefined || last === undefined || !isWeekday(first) || !isWeekday(last)) return null;
  const days: Weekday[] = [];
  for (let index = WEEKDAYS.indexOf(first); ; index = (index + 1) % 7) {
    days.push(WEEKDAYS[index]!);
    if (WEEKDAYS[index] === last) return days;
  }
}

const DAYS_EXPECTED = 'expected days such as mon-fri or [mon, wed]';

/** A list of days or ranges, or one string of them separated by commas -> the days in week order. */
const Days = z
  .union([z.string().min(1, DAYS_EXPECTED), z.array(z.string()).min(1, DAYS_EXPECTED)], { error: DAYS_EXPECTED })
  .transform((value, ctx) => {
    const terms = typeof value === 'string' ? value.split(',') : value;
    const days = new Set<Weekday>();
    for (const term of terms) {
      const found = daysOf(term);
      if (found === null) {
        ctx.addIssue({ code: 'custom', message: `${DAYS_EXPECTED}, found "${term}"` });
        return z.NEVER;
      }
      found.forEach((day) => days.add(day));
    }
    return WEEKDAYS.filter((day) => days.has(day));
  });

/** Wall-clock time; `end` also takes 24:00, the end of the day. */
const clock = (what: string, end: boolean) =>
  z.string({ error: `expected ${what} as HH:MM in quotes, such as "09:00"` }).regex(
    end ? /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/ : /^([01]\d|2[0-3]):[0-5]\d$/,
    `expected ${what} as HH:MM from 00:00 to ${end ? '24:00' : '23:59'}, such as "09:00"`,
  );

const TimeZone = z
  .string({ error: 'expected an IANA time zone such as Europe/Berlin' })
  .min(1, 'expected an IANA time zone such as Europe/Berlin')
  .refine(isKnownTimeZone, { error: (issue) => `time zone ${String(issue.input)} is unknown` });

/**
 * When releases may be promoted into the environment: from `from` to `to` on each of `days`, as
 * wall-clock time in `timezone`. A `to` before `from` runs overnight into the next day.
 */
export const PromotionWindow = z
  .object({ days: Days, from: clock('from', false), to: clock('to', true), timezone: TimeZone.default('UTC') })
  .strict()
  .refine((window) => window.from !== window.to, {
    error: (issue) => `from and to are both ${(issue.input as { from: string }).from}; use 00:00 to 24:00 for the whole day`,
    path: ['to'],
  });
export type PromotionWindow = z.output<typeof PromotionWindow>;

const INSTANT_EXPECTED = 'expected a date and time with its offset, such as 2026-12-24T00:00:00Z';
const Instant = z.iso.datetime({ offset: true, error: INSTANT_EXPECTED }).transform((value) => new Date(value).toISOString());

/** A span in which nothing is promoted into the environment, whatever its windows say. */
export const Freeze = z
  .object({ from: Instant, to: Instant, reason: z.string({ error: 'expected a reason, such as "year-end holidays"' }).min(1, 'expected a reason, such as "year-end holidays"') })
  .strict()
  .refine((freeze) => freeze.to > freeze.from, {
    error: (issue) => {
      const freeze = issue.input as { from: string; to: string };
      const text = (instant: string) => instant.replace(/\.000Z$/, 'Z');
      return `the freeze must end after it starts: to ${text(freeze.to)} is not after from ${text(freeze.from)}`;
    },
    path: ['to'],
  });
export type Freeze = z.output<typeof Freeze>;

const Role = z.enum(ROLES, { error: `expected roles among ${ROLES.join(', ')}` });

/** One condition of an approval: `count` different people, each holding one of `roles` (or a role above it) or named in `users`. */
const ApprovalRule = z
  .object({
    roles: z.array(Role).optional(),
    users: z.array(z.string().min(1, 'expected a user name')).optional(),
    count: z.number({ error: 'expected a number of approvals' }).int().min(1, 'expected at least 1 approval').default(1),
  })
  .strict()
  .transform((rule, ctx) => {
    const roles = rule.roles ?? [];
    const users = [...new Set(rule.users ?? [])];
    if (roles.length === 0 && users.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'an approval rule needs roles or users to say who may approve' });
      return z.NEVER;
    }
    if (roles.length === 0 && rule.count > users.length) {
      ctx.addIssue({ code: 'custom', path: ['count'], message: `count ${rule.count} is more than the ${users.length} ${users.length === 1 ? 'user' : 'users'} this rule names, so it could never be met` });
      return z.NEVER;
    }
    return { roles, users, count: rule.count };
  });

/** Who must approve a release before it enters the environment: every rule must be met. */
export const ApprovalSettings = z
  .object({
    rules: z.array(ApprovalRule, { error: 'expected a list of approval rules' }).min(1, 'expected at least one approval rule'),
    /** How long a request for approval stays open before the run ends as expired. */
    expires: Duration.prefault('72h'),
    /** Whether the person who started the run, or wrote its commit, may approve it. */
    self_approval: z.boolean().default(false),
    /** Whether older releases still waiting for approval keep waiting when a newer one arrives. */
    keep_older: z.boolean().default(false),
  })
  .strict()
  .transform((settings) => ({ rules: settings.rules, expiresMs: settings.expires, selfApproval: settings.self_approval, keepOlder: settings.keep_older }));
export type ApprovalSettings = z.output<typeof ApprovalSettings>;

/** Promote what passed the environment before to this one at each tick of `cron`, read in `timezone`. */
const PromoteSchedule = z
  .object({ cron: z.string().min(1, 'expected a cron expression such as "0 6 * * mon-fri"'), timezone: TimeZone.default('UTC') })
  .strict()
  .superRefine((schedule, ctx) => {
    // An unknown time zone is already reported on its own field.
    if (!isKnownTimeZone(schedule.timezone)) return;
    const problem = validateSchedule(schedule.cron, schedule.timezone);
    if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
  });
export type PromoteSchedule = z.output<typeof PromoteSchedule>;

/** The delivery fields of an environment, for model.ts to spread into its `Environment` object. */
export const deliveryFields = {
  approval: ApprovalSettings.optional(),
  /** How long a release must serve healthy here before it may go on to the next environment. */
  soak: Duration.optional(),
  windows: z.array(PromotionWindow).default([]),
  freezes: z.array(Freeze).default([]),
  /** Whether a rollback here waits for approval under the `approval` rules too. */
  rollback_approval: z.boolean().default(false),
  promote_schedule: PromoteSchedule.optional(),
};

/** Checks across the delivery fields, for the environment's superRefine. */
export function checkDelivery(settings: { approval?: ApprovalSettings | undefined; rollback_approval: boolean }, ctx: z.RefinementCtx): void {
  if (settings.rollback_approval && !settings.approval) {
    ctx.addIssue({ code: 'custom', path: ['rollback_approval'], message: 'rollback_approval needs "approval" rules to say who approves a rollback' });
  }
}

export const DeliverySettings = z.object(deliveryFields).strict().superRefine(checkDelivery);
export type DeliverySettings = z.output<typeof DeliverySettings>;
