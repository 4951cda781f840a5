import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Freeze, PromotionWindow } from '../../src/config/delivery.ts';
import { describeWindow, windowState, type Window } from '../../src/delivery/windows.ts';

/** Windows and freezes as slipway.yml gives them, through the schema. */
const window = (days: string | string[], from: string, to: string, timezone = 'UTC'): Window => PromotionWindow.parse({ days, from, to, timezone });
const freeze = (from: string, to: string, reason: string) => Freeze.parse({ from, to, reason });

const BERLIN_OFFICE = window('mon-fri', '09:00', '16:00', 'Europe/Berlin');
const NEW_YORK_OFFICE = window('weekdays', '09:00', '17:00', 'America/New_York');

/** "open", or the instant it opens (to the second, in UTC), or "never". */
function next(windows: Window[], freezes: ReturnType<typeof freeze>[], at: string): string {
  const state = windowState(windows, freezes, new Date(at));
  if (state.open) return 'open';
  return state.until === null ? 'never' : state.until.toISOString().replace('.000Z', 'Z');
}

function reason(windows: Window[], freezes: ReturnType<typeof freeze>[], at: string): string {
  const state = windowState(windows, freezes, new Date(at));
  assert.equal(state.open, false, `expected ${at} to be closed`);
  return state.open ? '' : state.reason;
}

function table(name: string, windows: Window[], freezes: ReturnType<typeof freeze>[], rows: Array<[at: string, expected: string, why: string]>) {
  describe(name, () => {
    for (const [at, expected, why] of rows) {
      test(`${at}: ${expected} (${why})`, () => assert.equal(next(windows, freezes, at), expected));
    }
  });
}

table('mon-fri 09:00-16:00 Europe/Berlin', [BERLIN_OFFICE], [], [
  ['2026-01-14T08:00:00Z', 'open', 'winter: 09:00 CET is 08:00 UTC, the start is inside'],
  ['2026-01-14T07:59:00Z', '2026-01-14T08:00:00Z', 'a minute before it opens'],
  ['2026-01-14T07:59:59Z', '2026-01-14T08:00:00Z', 'a second before it opens'],
  ['2026-01-14T14:59:00Z', 'open', 'the last minute'],
  ['2026-01-14T15:00:00Z', '2026-01-15T08:00:00Z', 'the end is outside: tomorrow morning'],
  ['2026-01-16T15:00:00Z', '2026-01-19T08:00:00Z', 'friday evening: monday morning'],
  ['2026-01-17T12:00:00Z', '2026-01-19T08:00:00Z', 'saturday noon'],
  ['2026-07-15T07:00:00Z', 'open', 'summer: 09:00 CEST is 07:00 UTC'],
  ['2026-07-15T06:59:00Z', '2026-07-15T07:00:00Z', 'summer, a minute before'],
  ['2026-07-15T13:59:00Z', 'open', 'summer, the last minute'],
  ['2026-07-15T14:00:00Z', '2026-07-16T07:00:00Z', 'summer, closed at 16:00 CEST'],
  ['2026-03-27T15:00:00Z', '2026-03-30T07:00:00Z', 'clocks go forward on sunday: friday CET, monday CEST'],
  ['2026-03-29T12:00:00Z', '2026-03-30T07:00:00Z', 'the sunday of the change'],
  ['2026-10-23T14:00:00Z', '2026-10-26T08:00:00Z', 'clocks go back on sunday: friday CEST, monday CET'],
  ['2026-10-25T01:30:00Z', '2026-10-26T08:00:00Z', 'inside the repeated hour'],
]);

table('weekdays 09:00-17:00 America/New_York', [NEW_YORK_OFFICE], [], [
  ['2026-01-14T14:00:00Z', 'open', 'winter: 09:00 EST is 14:00 UTC'],
  ['2026-01-14T13:59:00Z', '2026-01-14T14:00:00Z', 'winter, a minute before'],
  ['2026-01-14T22:00:00Z', '2026-01-15T14:00:00Z', 'winter, closed at 17:00 EST'],
  ['2026-07-15T13:00:00Z', 'open', 'summer: 09:00 EDT is 13:00 UTC'],
  ['2026-07-15T20:59:00Z', 'open', 'summer, the last minute'],
  ['2026-07-15T21:00:00Z', '2026-07-16T13:00:00Z', 'summer, closed at 17:00 EDT'],
  ['2026-03-06T22:00:00Z', '2026-03-09T13:00:00Z', 'clocks go forward on sunday 2026-03-08'],
  ['2026-10-30T21:00:00Z', '2026-11-02T14:00:00Z', 'clocks go back on sunday 2026-11-01'],
]);

table('a window whose start does not exist on the day the clocks go forward', [window('daily', '02:30', '04:00', 'Europe/Berlin')], [], [
  ['2026-03-29T00:00:00Z', '2026-03-29T01:00:00Z', '02:30 is skipped: it opens at 03:00 CEST, the next valid instant'],
  ['2026-03-29T01:00:00Z', 'open', '03:00 CEST'],
  ['2026-03-29T01:59:00Z', 'open', '03:59 CEST'],
  ['2026-03-29T02:00:00Z', '2026-03-30T00:30:00Z', '04:00 CEST closes it; monday 02:30 CEST'],
  ['2026-03-28T01:29:00Z', '2026-03-28T01:30:00Z', 'the day before: 02:30 CET'],
]);

table('a window that lies wholly in the skipped hour', [window('daily', '02:15', '03:00', 'America/New_York')], [], [
  ['2026-03-08T06:00:00Z', '2026-03-09T06:15:00Z', 'it is empty on 2026-03-08: the next is monday 02:15 EDT'],
  ['2026-03-07T07:15:00Z', 'open', 'saturday 02:15 EST'],
]);

table('a window across the repeated hour when the clocks go back', [window('daily', '02:30', '03:30', 'Europe/Berlin')], [], [
  ['2026-10-25T00:00:00Z', '2026-10-25T00:30:00Z', 'it opens at the first 02:30 (CEST)'],
  ['2026-10-25T00:30:00Z', 'open', '02:30 CEST'],
  ['2026-10-25T01:45:00Z', 'open', '02:45 CET, the second time round'],
  ['2026-10-25T02:29:00Z', 'open', '03:29 CET'],
  ['2026-10-25T02:30:00Z', '2026-10-26T01:30:00Z', '03:30 CET closes it'],
]);

table('an overnight window fri 22:00-02:00 UTC', [window(['fri'], '22:00', '02:00')], [], [
  ['2026-01-16T22:00:00Z', 'open', 'friday 22:00'],
  ['2026-01-16T23:30:00Z', 'open', 'friday before midnight'],
  ['2026-01-17T01:59:00Z', 'open', 'saturday, still the friday window'],
  ['2026-01-17T02:00:00Z', '2026-01-23T22:00:00Z', 'closed at 02:00: next friday'],
  ['2026-01-15T23:00:00Z', '2026-01-16T22:00:00Z', 'thursday night is not listed'],
  ['2026-01-17T22:00:00Z', '2026-01-23T22:00:00Z', 'nor saturday night'],
]);

table('an overnight window that ends in the skipped hour', [window('daily', '22:00', '02:30', 'Europe/Berlin')], [], [
  ['2026-03-29T00:59:00Z', 'open', '01:59 CET'],
  ['2026-03-29T01:00:00Z', '2026-03-29T20:00:00Z', '02:30 does not exist: it closes when the clocks jump; reopens 22:00 CEST'],
]);

table('windows ending at 24:00', [window('sat', '00:00', '24:00'), window('mon', '20:00', '24:00', 'Europe/Berlin')], [], [
  ['2026-01-17T00:00:00Z', 'open', 'saturday from midnight'],
  ['2026-01-17T23:59:00Z', 'open', 'saturday, the last minute'],
  ['2026-01-18T00:00:00Z', '2026-01-19T19:00:00Z', 'sunday midnight closes it; monday 20:00 CET'],
  ['2026-01-19T22:59:00Z', 'open', 'monday 23:59 CET'],
  ['2026-01-19T23:00:00Z', '2026-01-24T00:00:00Z', 'tuesday 00:00 CET closes it'],
]);

table('day ranges', [window('fri-mon', '10:00', '11:00')], [], [
  ['2026-01-16T10:00:00Z', 'open', 'friday'],
  ['2026-01-18T10:30:00Z', 'open', 'sunday'],
  ['2026-01-19T10:30:00Z', 'open', 'monday'],
  ['2026-01-19T11:00:00Z', '2026-01-23T10:00:00Z', 'the range wraps the weekend: tuesday to thursday are out'],
]);

table('two windows: the earlier opening wins', [BERLIN_OFFICE, window('sat, sun', '10:00', '12:00', 'America/New_York')], [], [
  ['2026-01-16T15:00:00Z', '2026-01-17T15:00:00Z', 'friday evening: saturday 10:00 EST'],
  ['2026-01-17T16:00:00Z', 'open', 'saturday 11:00 EST'],
  ['2026-01-18T17:00:00Z', '2026-01-19T08:00:00Z', 'sunday after noon EST: monday in Berlin'],
]);

const HOLIDAYS = freeze('2026-12-20T00:00:00Z', '2027-01-04T00:00:00Z', 'holidays');

table('no windows', [], [HOLIDAYS], [
  ['2026-12-19T23:59:00Z', 'open', 'before the freeze'],
  ['2026-12-20T00:00:00Z', '2027-01-04T00:00:00Z', 'the freeze includes its start'],
  ['2026-12-24T12:00:00Z', '2027-01-04T00:00:00Z', 'inside the freeze'],
  ['2027-01-04T00:00:00Z', 'open', 'the freeze excludes its end'],
]);

table('freezes and windows', [BERLIN_OFFICE], [HOLIDAYS, freeze('2026-01-14T10:00:00Z', '2026-01-14T12:00:00Z', 'database migration'), freeze('2026-01-15T07:00:00Z', '2026-01-15T09:30:00Z', 'incident')], [
  ['2026-12-24T10:00:00Z', '2027-01-04T08:00:00Z', 'frozen over a window: opens at the first window after the freeze'],
  ['2027-01-02T12:00:00Z', '2027-01-04T08:00:00Z', 'frozen on a weekend'],
  ['2026-12-18T15:00:00Z', '2027-01-04T08:00:00Z', 'outside the windows on friday evening, and the freeze covers every window after'],
  ['2026-01-14T11:00:00Z', '2026-01-14T12:00:00Z', 'a freeze inside a window: opens again when it ends'],
  ['2026-01-14T09:59:00Z', 'open', 'the window before that freeze'],
  ['2026-01-14T12:00:00Z', 'open', 'the window after it'],
  ['2026-01-15T06:00:00Z', '2026-01-15T09:30:00Z', 'a freeze across the window start holds the opening back'],
]);

test('frozen chains: overlapping freezes keep it closed until the last ends', () => {
  const freezes = [freeze('2026-05-01T10:00:00Z', '2026-05-01T12:00:00Z', 'first'), freeze('2026-05-01T11:00:00Z', '2026-05-01T14:00:00Z', 'second')];
  assert.equal(next([], freezes, '2026-05-01T10:30:00Z'), '2026-05-01T14:00:00Z');
  assert.equal(reason([], freezes, '2026-05-01T10:30:00Z'), 'frozen until 2026-05-01T12:00:00Z: first; promotions resume 2026-05-01T14:00:00Z');
  assert.equal(reason([], freezes, '2026-05-01T11:30:00Z'), 'frozen until 2026-05-01T14:00:00Z: second');
});

test('a freeze longer than the search leaves no opening with windows, but ends without them', () => {
  const long = [freeze('2026-01-01T00:00:00Z', '2028-01-01T00:00:00Z', 'migration to the new data centre')];
  assert.equal(next([BERLIN_OFFICE], long, '2026-02-01T00:00:00Z'), 'never');
  assert.equal(
    reason([BERLIN_OFFICE], long, '2026-02-01T00:00:00Z'),
    'frozen until 2028-01-01T00:00:00Z: migration to the new data centre; no promotion window opens outside a freeze within a year',
  );
  assert.equal(next([], long, '2026-02-01T00:00:00Z'), '2028-01-01T00:00:00Z');
});

test('a freeze that starts later does not close an open window', () => {
  assert.equal(next([BERLIN_OFFICE], [HOLIDAYS], '2026-12-07T08:00:00Z'), 'open');
  assert.equal(next([], [], '2026-12-07T03:00:00Z'), 'open');
});

describe('reasons read as sentences', () => {
  test('outside the windows, with the next opening in the window\'s own time', () => {
    assert.equal(
      reason([BERLIN_OFFICE], [], '2026-12-05T10:00:00Z'),
      'outside the promotion windows (mon-fri 09:00-16:00 Europe/Berlin); the next opens Mon 2026-12-07 09:00 Europe/Berlin',
    );
    assert.equal(
      reason([BERLIN_OFFICE, window('sat', '10:00', '11:00')], [], '2026-12-05T11:00:00Z'),
      'outside the promotion windows (mon-fri 09:00-16:00 Europe/Berlin; sat 10:00-11:00 UTC); the next opens Mon 2026-12-07 09:00 Europe/Berlin',
    );
  });

  test('frozen, opening when the freeze ends', () => {
    assert.equal(reason([], [HOLIDAYS], '2026-12-24T12:00:00Z'), 'frozen until 2027-01-04T00:00:00Z: holidays');
  });

  test('frozen, with windows after the freeze', () => {
    assert.equal(
      reason([BERLIN_OFFICE], [HOLIDAYS], '2026-12-24T12:00:00Z'),
      'frozen until 2027-01-04T00:00:00Z: holidays; promotions resume Mon 2027-01-04 09:00 Europe/Berlin',
    );
  });

  test('outside the windows, the next one held back by a freeze', () => {
    const incident = freeze('2026-01-15T07:00:00Z', '2026-01-15T09:30:00Z', 'incident');
    assert.equal(
      reason([BERLIN_OFFICE], [incident], '2026-01-15T06:00:00Z'),
      'outside the promotion windows (mon-fri 09:00-16:00 Europe/Berlin); the next opens Thu 2026-01-15 10:30 Europe/Berlin, after the freeze until 2026-01-15T09:30:00Z: incident',
    );
  });
});

describe('describeWindow', () => {
  const rows: Array<[days: string | string[], expected: string]> = [
    ['mon-fri', 'mon-fri 09:00-16:00 Europe/Berlin'],
    ['daily', 'daily 09:00-16:00 Europe/Berlin'],
    ['weekends', 'sat, sun 09:00-16:00 Europe/Berlin'],
    [['wed', 'mon'], 'mon, wed 09:00-16:00 Europe/Berlin'],
    ['mon-wed, sat', 'mon-wed, sat 09:00-16:00 Europe/Berlin'],
    ['fri-mon', 'mon, fri-sun 09:00-16:00 Europe/Berlin'],
  ];
  for (const [days, expected] of rows) {
    test(`${JSON.stringify(days)} -> ${expected}`, () => assert.equal(describeWindow(window(days, '09:00', '16:00', 'Europe/Berlin')), expected));
  }

  test('overnight and 24:00 windows read as written', () => {
    assert.equal(describeWindow(window('fri', '22:00', '02:00')), 'fri 22:00-02:00 UTC');
    assert.equal(describeWindow(window('sat', '00:00', '24:00')), 'sat 00:00-24:00 UTC');
  });
});
