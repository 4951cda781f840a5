// The periods the Metrics page offers: whole UTC days up to now.

import { DAY_MS } from './format.ts';

export const PERIODS = [7, 30, 90, 365] as const;
/** The period without a choice in the URL. */
export const DEFAULT_DAYS = 30;

/** The period: whole UTC days, today (so far) the last of them. */
export function periodOf(days: number): { from: string; to: string } {
  const now = Date.now();
  const today = now - (now % DAY_MS);
  return { from: new Date(today - (days - 1) * DAY_MS).toISOString(), to: new Date(now).toISOString() };
}
