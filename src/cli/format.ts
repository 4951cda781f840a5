// How the CLI shows things to a person: status symbols, colours on a terminal, durations and
// relative times, short shas, what started a run and where it waits, aligned tables.

import { assertNever, type DeliveryStatus, type Run, type RunStatus, type StageStatus } from '../core/types.ts';
import { ordinal } from '../core/words.ts';

export { ago, clockTime, duration, fromNow, ordinal, shortSha, triggerText } from '../core/words.ts';

const colour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const cyan = paint(36);
export const dim = paint(2);
export const bold = paint(1);

export function statusSymbol(status: StageStatus | RunStatus): string {
  switch (status) {
    case 'succeeded':
      return green('✓');
    case 'failed':
      return red('✗');
    case 'running':
      return cyan('●');
    case 'pending':
      return dim('○');
    case 'skipped':
      return dim('–');
    case 'cancelled':
      return yellow('⊘');
    case 'waiting':
      return yellow('⏸');
    case 'rejected':
      return red('⊘');
    case 'expired':
      return yellow('⌛');
  }
}

export function statusWord(status: StageStatus | RunStatus): string {
  const word = status.replace('_', ' ');
  switch (status) {
    case 'succeeded':
      return green(word);
    case 'failed':
      return red(word);
    case 'running':
      return cyan(word);
    case 'rejected':
      return red(word);
    case 'cancelled':
    case 'waiting':
    case 'expired':
      return yellow(word);
    case 'pending':
    case 'skipped':
      return dim(word);
  }
}

/**
 * A run's state for people: a pending run says where it waits, "queued (2nd in main, queue)";
 * a parallel one waits for room only, "queued (main, parallel)".
 */
export function runState(run: Pick<Run, 'status' | 'lane' | 'concurrency'> & { queuePosition?: number | null }): string {
  if (run.status !== 'pending') return statusWord(run.status);
  const place = run.queuePosition ? `${ordinal(run.queuePosition)} in ${run.lane}` : run.lane;
  return dim(`queued (${place}, ${run.concurrency})`);
}

export function deliveryStatusWord(status: DeliveryStatus): string {
  switch (status) {
    case 'processed':
      return green(status);
    case 'failed':
      return red(status);
    case 'received':
      return cyan(status);
    default:
      return assertNever(status, 'delivery status');
  }
}

// eslint-disable-next-line no-control-regex
const visibleLength = (text: string) => text.replace(/\x1b\[\d+m/g, '').length;

/** Left-aligned columns, padded to the widest cell, ANSI colours ignored for width. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, visibleLength(cell))));
  return rows
    .map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell + ' '.repeat(widths[index]! - visibleLength(cell)))).join('  ').trimEnd())
    .join('\n');
}
