// How the CLI shows things to a person: status symbols, colours on a terminal, durations,
// short shas, aligned tables.

import type { RunStatus, StageStatus } from '../core/types.ts';

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
    case 'awaiting_approval':
      return yellow('?');
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
    case 'cancelled':
    case 'awaiting_approval':
      return yellow(word);
    case 'pending':
    case 'skipped':
      return dim(word);
  }
}

export function duration(from: string | null, to: string | null, now = Date.now()): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : now) - Date.parse(from);
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

export function ago(at: string | null, now = Date.now()): string {
  if (!at) return '';
  const seconds = Math.round((now - Date.parse(at)) / 1000);
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86_400)}d ago`;
}

export const shortSha = (sha: string) => sha.slice(0, 8);

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
