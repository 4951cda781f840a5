// `slipway audit`: the event log's changes, newest first: when, who, what, where, and the
// comment or reason given, filtered as the API allows, a page at a time.

import { type Command, InvalidArgumentError } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { EventRecord } from '../client/delivery-api.ts';
import { ago, bold, clockTime, dim, table } from './format.ts';
import { positiveInt, print, printJson } from './output.ts';

interface AuditOptions {
  actor?: string;
  type?: string;
  service?: string;
  environment?: string;
  since?: string;
  until?: string;
  before?: number;
  limit: number;
  all?: boolean;
  json?: boolean;
}

export function registerAuditCommands(program: Command, client: () => SlipwayClient): void {
  program
    .command('audit')
    .description('who changed what and when: approvals, promotions, rollbacks, locks, secrets, users, tokens (newest first)')
    .option('--actor <user>', 'only what this user did')
    .option('--type <types>', 'event types or prefixes ending in ".", comma-separated: approval.,lock.set')
    .option('--service <name>', 'only this service')
    .option('--environment <name>', 'only this environment')
    .option('--since <when>', 'from this time on: 2026-12-01, 2026-12-01T09:00, or 2d, 12h, 30m ago', instant)
    .option('--until <when>', 'up to this time, as --since', instant)
    .option('--before <event>', 'older than this event id (the next page)', (value) => positiveInt(value, 'an event id'))
    .option('--limit <n>', 'how many', (value) => positiveInt(value, 'a positive number'), 50)
    .option('--all', "also the changes Slipway made by itself, not only people's")
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  slipway audit --type approval.,promotion. --environment production\n  slipway audit --actor dora --since 7d')
    .action(async (options: AuditOptions) => {
      const { json, ...query } = options;
      const events = await client().audit(query);
      if (json) return printJson(events);
      if (events.length === 0) return print(filtered(options) ? 'No changes match.' : 'No changes recorded yet.');
      const rows = [['WHEN', 'WHO', 'WHAT', 'WHERE', 'DETAIL'].map(bold)];
      for (const event of events) {
        rows.push([`${ago(event.at)} ${dim(`(${clockTime(event.at)})`)}`, event.actor ?? dim('slipway'), what(event), where(event), detail(event)]);
      }
      print(table(rows));
      if (events.length === options.limit) print(dim(`  older: slipway audit --before ${events.at(-1)!.id} (with the same filters)`));
    });
}

const filtered = (options: AuditOptions) => [options.actor, options.type, options.service, options.environment, options.since, options.until, options.before].some((value) => value !== undefined);

/**
 * An ISO date-time for the API: a date or date-time as this machine's clock reads it (or with
 * its own offset), or a span back from now ("2d", "12h", "30m").
 */
function instant(value: string): string {
  const span = /^(\d+)([dhm])$/.exec(value.trim());
  if (span) return new Date(Date.now() - Number(span[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[span[2] as 'd' | 'h' | 'm']).toISOString();
  // A bare date would be read as UTC midnight; a person means the start of their own day.
  const at = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00` : value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at.getTime())) throw new InvalidArgumentError(`expected a date such as 2026-12-01, a time such as 2026-12-01T09:00, or a span such as 2d, got "${value}"`);
  return at.toISOString();
}

const what = (event: EventRecord) => (event.runId === null ? event.type : `${event.type} ${dim(`run #${event.runId}`)}`);

function where(event: EventRecord): string {
  if (event.service && event.environment) return `${event.service} in ${event.environment}`;
  return event.environment ?? event.service ?? '';
}

/** The comment or reason people gave, and what the change was about: a secret's name, a release, a user. */
function detail(event: EventRecord): string {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const text = (key: string) => (typeof data[key] === 'string' && data[key] !== '' ? (data[key] as string) : null);
  const number = (key: string) => (typeof data[key] === 'number' ? (data[key] as number) : null);
  const parts: string[] = [];
  const [from, to, release] = [number('fromReleaseId'), number('toReleaseId'), number('releaseId')];
  if (from !== null && to !== null) parts.push(`release #${from} → #${to}`);
  else if (release !== null) parts.push(`release #${release}`);
  const subject = text('name') ?? text('user');
  if (subject) parts.push(subject);
  const said = text('comment') ?? text('reason');
  if (said) parts.push(`"${said}"`);
  const lockedBy = text('lockedBy');
  if (lockedBy) parts.push(dim(`(locked by ${lockedBy})`));
  return parts.join(' ');
}
