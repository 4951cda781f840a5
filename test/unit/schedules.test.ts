// Schedules: a first start records a baseline, a restart after missed ticks runs once, time
// zones decide which ticks exist, live ticks fire, and a failing run start stays contained.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { MapCursors } from '../support/records.ts';
import { ScheduleRunner, validateSchedule, type ScheduledRunRequest, type ScheduleSpec } from '../../src/triggers/schedules.ts';

function schedule(overrides: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return { name: 'nightly', cron: '0 * * * *', timezone: 'UTC', services: ['payment'], ref: null, variables: {}, ...overrides };
}

function setup(schedules: ScheduleSpec[], now: string | null, failFor: string[] = []) {
  const cursors = new MapCursors();
  const runs: ScheduledRunRequest[] = [];
  const logs: string[] = [];
  const runner = new ScheduleRunner({
    schedules,
    cursors,
    startRun: async (request) => {
      runs.push(request);
      return failFor.includes(request.service) ? { ok: false, error: { message: `no service named ${request.service}` } } : { ok: true };
    },
    ...(now === null ? {} : { now: () => new Date(now) }),
    log: (message) => logs.push(message),
  });
  return { runner, cursors, runs, logs };
}

describe('ScheduleRunner at start-up', () => {
  it('records the most recent past tick as a baseline on first start and runs nothing', async () => {
    const { runner, cursors, runs } = setup([schedule()], '2024-06-01T12:34:56Z');
    await runner.start();
    runner.stop();
    assert.deepEqual(runs, []);
    assert.equal(cursors.values.get('schedule:nightly'), '2024-06-01T12:00:00.000Z');
    assert.equal(runner.describe()[0]?.lastAt, '2024-06-01T12:00:00.000Z');
  });

  it('runs a schedule missed many times exactly once and moves the cursor to the latest past tick', async () => {
    const { runner, cursors, runs, logs } = setup([schedule({ services: ['payment', 'orders'], ref: 'main', variables: { MODE: 'full' } })], '2024-06-01T12:34:56Z');
    cursors.values.set('schedule:nightly', '2024-06-01T02:00:00.000Z');
    await runner.start();
    runner.stop();
    assert.deepEqual(runs, [
      { service: 'payment', ref: 'main', variables: { MODE: 'full' }, trigger: { kind: 'schedule', by: 'nightly' } },
      { service: 'orders', ref: 'main', variables: { MODE: 'full' }, trigger: { kind: 'schedule', by: 'nightly' } },
    ]);
    assert.equal(cursors.values.get('schedule:nightly'), '2024-06-01T12:00:00.000Z');
    assert.deepEqual(logs, ['schedule nightly missed 10 ticks while the server was down; running once']);
  });

  it('runs nothing when no tick passed since the cursor', async () => {
    const { runner, cursors, runs, logs } = setup([schedule()], '2024-06-01T12:59:59Z');
    cursors.values.set('schedule:nightly', '2024-06-01T12:00:00.000Z');
    await runner.start();
    runner.stop();
    assert.deepEqual(runs, []);
    assert.deepEqual(logs, []);
    assert.equal(cursors.values.get('schedule:nightly'), '2024-06-01T12:00:00.000Z');
  });

  it('counts a tick exactly at start-up time as missed', async () => {
    const { runner, cursors, runs } = setup([schedule()], '2024-06-01T13:00:00.000Z');
    cursors.values.set('schedule:nightly', '2024-06-01T12:00:00.000Z');
    await runner.start();
    runner.stop();
    assert.equal(runs.length, 1);
    assert.equal(cursors.values.get('schedule:nightly'), '2024-06-01T13:00:00.000Z');
  });

  it('reads the cron expression in the schedule’s time zone', async () => {
    // 03:00 in Berlin (UTC+2 in June) is 01:00Z, inside the window; 03:00 in New York (UTC-4) is 07:00Z, after it.
    const { runner, cursors, runs } = setup(
      [
        schedule({ name: 'berlin', cron: '0 3 * * *', timezone: 'Europe/Berlin', services: ['berlin-service'] }),
        schedule({ name: 'new-york', cron: '0 3 * * *', timezone: 'America/New_York', services: ['new-york-service'] }),
      ],
      '2024-06-01T02:00:00Z',
    );
    cursors.values.set('schedule:berlin', '2024-05-31T01:00:00.000Z');
    cursors.values.set('schedule:new-york', '2024-05-31T07:00:00.000Z');
    await runner.start();
    runner.stop();
    assert.deepEqual(runs.map((run) => run.service), ['berlin-service']);
    assert.equal(cursors.values.get('schedule:berlin'), '2024-06-01T01:00:00.000Z');
    const described = Object.fromEntries(runner.describe().map((entry) => [entry.name, entry.nextAt]));
    assert.deepEqual(described, { berlin: '2024-06-02T01:00:00.000Z', 'new-york': '2024-06-01T07:00:00.000Z' });
  });

  it('logs a run that could not be started with its schedule and service, and still starts the others', async () => {
    const { runner, cursors, runs, logs } = setup([schedule({ services: ['ghost', 'payment'] })], '2024-06-01T12:34:56Z', ['ghost']);
    cursors.values.set('schedule:nightly', '2024-06-01T11:00:00.000Z');
    await runner.start();
    runner.stop();
    assert.deepEqual(runs.map((run) => run.service), ['ghost', 'payment']);
    assert.ok(logs.includes('schedule nightly: could not start a run of ghost: no service named ghost'), logs.join('\n'));
  });

  it('keeps a rejected startRun from escaping and still starts the others', async () => {
    const cursors = new MapCursors();
    cursors.values.set('schedule:nightly', '2024-06-01T11:00:00.000Z');
    const started: string[] = [];
    const logs: string[] = [];
    const runner = new ScheduleRunner({
      schedules: [schedule({ services: ['flaky', 'payment'] })],
      cursors,
      startRun: async (request) => {
        if (request.service === 'flaky') throw new Error('database is locked');
        started.push(request.service);
        return { ok: true };
      },
      now: () => new Date('2024-06-01T12:34:56Z'),
      log: (message) => logs.push(message),
    });
    await runner.start();
    runner.stop();
    assert.deepEqual(started, ['payment']);
    assert.ok(logs.includes('schedule nightly: could not start a run of flaky: database is locked'), logs.join('\n'));
  });

  it('starts no runs for a tick it cannot record, so a restart catches it up instead of repeating it', async () => {
    const { runner, cursors, runs, logs } = setup([schedule()], '2024-06-01T12:34:56Z');
    cursors.values.set('schedule:nightly', '2024-06-01T11:00:00.000Z');
    cursors.set = async () => {
      throw new Error('disk full');
    };
    await runner.start();
    runner.stop();
    assert.deepEqual(runs, []);
    assert.equal(cursors.values.get('schedule:nightly'), '2024-06-01T11:00:00.000Z');
    assert.ok(logs.includes('schedule nightly: cannot record the tick at 2024-06-01T12:00:00.000Z (disk full); its runs were not started'), logs.join('\n'));
  });
});

describe('ScheduleRunner timers', () => {
  it('fires on a live tick and records it', async () => {
    const { runner, cursors, runs } = setup([schedule({ name: 'every-second', cron: '* * * * * *' })], null);
    await runner.start();
    const baseline = cursors.values.get('schedule:every-second');
    await sleep(1500);
    runner.stop();
    assert.ok(runs.length >= 1 && runs.length <= 2, `expected one or two runs, got ${runs.length}`);
    assert.deepEqual(runs[0]?.trigger, { kind: 'schedule', by: 'every-second' });
    const last = cursors.values.get('schedule:every-second');
    assert.ok(baseline && last && last > baseline, `cursor moved from ${baseline} to ${last}`);
    const afterStop = runs.length;
    await sleep(1100);
    assert.equal(runs.length, afterStop, 'no tick fires after stop()');
  });
});

describe('validateSchedule', () => {
  it('accepts 5 and 6 fields, nicknames and known time zones', () => {
    assert.equal(validateSchedule('0 3 * * 1', 'Europe/Berlin'), null);
    assert.equal(validateSchedule('*/10 * * * * *', 'UTC'), null);
    assert.equal(validateSchedule('@weekly', 'America/New_York'), null);
  });

  it('names what is wrong in one sentence', () => {
    assert.equal(validateSchedule('0 3 * * *', 'Mars/Base'), 'unknown time zone Mars/Base');
    assert.equal(validateSchedule('every day', 'UTC'), 'invalid cron expression "every day": expected 5 or 6 fields, found 2');
    assert.equal(validateSchedule('0 0 3 * * * 2030', 'UTC'), 'invalid cron expression "0 0 3 * * * 2030": expected 5 or 6 fields, found 7');
    assert.equal(validateSchedule('61 * * * *', 'UTC'), 'invalid cron expression "61 * * * *": invalid value for minute: 61');
    assert.equal(validateSchedule('0 0 30 2 *', 'UTC'), 'invalid cron expression "0 0 30 2 *": it never fires');
  });
});
