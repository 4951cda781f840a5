import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { DeliverySettings, deliveryFields } from '../../src/config/delivery.ts';

function parsed(input: unknown): DeliverySettings {
  const result = DeliverySettings.safeParse(input);
  if (!result.success) assert.fail(problems(result.error));
  return result.data;
}

function problems(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n');
}

/** What a user reads: "path: message" per problem. */
function refused(input: unknown): string[] {
  const result = DeliverySettings.safeParse(input);
  assert.equal(result.success, false, 'expected the settings to be refused');
  return result.success ? [] : problems(result.error).split('\n');
}

describe('accepted delivery settings', () => {
  test('nothing set: no gates', () => {
    assert.deepEqual(parsed({}), { windows: [], freezes: [], rollback_approval: false });
  });

  test('everything set, with defaults filled in and units read', () => {
    const settings = parsed({
      approval: { rules: [{ roles: ['deployer'] }, { users: ['alice', 'bob'], count: 2 }] },
      soak: '1h',
      windows: [{ days: 'mon-fri', from: '09:00', to: '16:00', timezone: 'Europe/Berlin' }],
      freezes: [{ from: '2026-12-20T00:00:00+01:00', to: '2027-01-04T00:00:00Z', reason: 'holidays' }],
      rollback_approval: true,
      promote_schedule: { cron: '0 6 * * 1-5' },
    });
    assert.deepEqual(settings, {
      approval: {
        rules: [
          { roles: ['deployer'], users: [], count: 1 },
          { roles: [], users: ['alice', 'bob'], count: 2 },
        ],
        expiresMs: 72 * 3_600_000,
        selfApproval: false,
        keepOlder: false,
      },
      soak: 3_600_000,
      windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '16:00', timezone: 'Europe/Berlin' }],
      freezes: [{ from: '2026-12-19T23:00:00.000Z', to: '2027-01-04T00:00:00.000Z', reason: 'holidays' }],
      rollback_approval: true,
      promote_schedule: { cron: '0 6 * * 1-5', timezone: 'UTC' },
    });
  });

  test('approval settings in full', () => {
    const settings = parsed({ approval: { rules: [{ roles: ['admin'], users: ['carol'], count: 2 }], expires: '2d', self_approval: true, keep_older: true } });
    assert.deepEqual(settings.approval, {
      rules: [{ roles: ['admin'], users: ['carol'], count: 2 }],
      expiresMs: 2 * 86_400_000,
      selfApproval: true,
      keepOlder: true,
    });
  });

  const days: Array<[given: string | string[], expected: string[]]> = [
    ['mon-fri', ['mon', 'tue', 'wed', 'thu', 'fri']],
    ['weekdays', ['mon', 'tue', 'wed', 'thu', 'fri']],
    ['weekends', ['sat', 'sun']],
    ['daily', ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']],
    ['fri-mon', ['mon', 'fri', 'sat', 'sun']],
    ['sat', ['sat']],
    ['Mon, Wed', ['mon', 'wed']],
    [['wed', 'mon', 'wed'], ['mon', 'wed']],
    [['mon-tue', 'sun'], ['mon', 'tue', 'sun']],
  ];
  for (const [given, expected] of days) {
    test(`days ${JSON.stringify(given)}`, () => {
      assert.deepEqual(parsed({ windows: [{ days: given, from: '09:00', to: '10:00' }] }).windows[0]?.days, expected);
    });
  }

  test('overnight and 24:00 windows', () => {
    const { windows } = parsed({ windows: [{ days: 'fri', from: '22:00', to: '02:00' }, { days: 'sat', from: '00:00', to: '24:00' }] });
    assert.deepEqual(
      windows.map(({ from, to, timezone }) => `${from}-${to} ${timezone}`),
      ['22:00-02:00 UTC', '00:00-24:00 UTC'],
    );
  });

  test('deliveryFields spread into another object (as model.ts does) keep their defaults', () => {
    const Environment = z.object({ target: z.string().default('container-host'), ...deliveryFields }).strict();
    assert.deepEqual(Environment.parse({ soak: 90 }), { target: 'container-host', soak: 90_000, windows: [], freezes: [], rollback_approval: false });
  });
});

describe('refused delivery settings', () => {
  const rows: Array<[what: string, input: unknown, expected: string[]]> = [
    [
      'a window with every field wrong',
      { windows: [{ days: 'funday', from: '9:00', to: '25:00', timezone: 'Mars/Base' }] },
      [
        'windows.0.days: expected days such as mon-fri or [mon, wed], found "funday"',
        'windows.0.from: expected from as HH:MM from 00:00 to 23:59, such as "09:00"',
        'windows.0.to: expected to as HH:MM from 00:00 to 24:00, such as "09:00"',
        'windows.0.timezone: time zone Mars/Base is unknown',
      ],
    ],
    ['no days', { windows: [{ days: [], from: '09:00', to: '10:00' }] }, ['windows.0.days: expected days such as mon-fri or [mon, wed]']],
    ['days of another type', { windows: [{ days: 5, from: '09:00', to: '10:00' }] }, ['windows.0.days: expected days such as mon-fri or [mon, wed]']],
    ['a reversed range with a typo', { windows: [{ days: 'mon-fry', from: '09:00', to: '10:00' }] }, ['windows.0.days: expected days such as mon-fri or [mon, wed], found "mon-fry"']],
    ['a time YAML read as a number', { windows: [{ days: 'mon', from: 900, to: '10:00' }] }, ['windows.0.from: expected from as HH:MM in quotes, such as "09:00"']],
    ['from 24:00', { windows: [{ days: 'mon', from: '24:00', to: '10:00' }] }, ['windows.0.from: expected from as HH:MM from 00:00 to 23:59, such as "09:00"']],
    [
      'from and to the same',
      { windows: [{ days: 'mon', from: '09:00', to: '09:00' }] },
      ['windows.0.to: from and to are both 09:00; use 00:00 to 24:00 for the whole day'],
    ],
    ['an unknown key in a window', { windows: [{ days: 'mon', from: '09:00', to: '10:00', tz: 'UTC' }] }, ['windows.0: Unrecognized key: "tz"']],
    [
      'a freeze without an offset or a reason',
      { freezes: [{ from: '2026-12-20', to: '2026-12-21T00:00:00' }] },
      [
        'freezes.0.from: expected a date and time with its offset, such as 2026-12-24T00:00:00Z',
        'freezes.0.to: expected a date and time with its offset, such as 2026-12-24T00:00:00Z',
        'freezes.0.reason: expected a reason, such as "year-end holidays"',
      ],
    ],
    [
      'a freeze that ends before it starts',
      { freezes: [{ from: '2026-12-20T00:00:00Z', to: '2026-12-19T00:00:00Z', reason: 'oops' }] },
      ['freezes.0.to: the freeze must end after it starts: to 2026-12-19T00:00:00Z is not after from 2026-12-20T00:00:00Z'],
    ],
    ['a rule naming nobody', { approval: { rules: [{ count: 2 }] } }, ['approval.rules.0: an approval rule needs roles or users to say who may approve']],
    ['no rules', { approval: { rules: [] } }, ['approval.rules: expected at least one approval rule']],
    [
      'an unknown role and no approvals',
      { approval: { rules: [{ roles: ['boss'], count: 0 }] } },
      ['approval.rules.0.roles.0: expected roles among viewer, developer, deployer, admin', 'approval.rules.0.count: expected at least 1 approval'],
    ],
    [
      'more approvals than the users named',
      { approval: { rules: [{ users: ['alice'], count: 2 }] } },
      ['approval.rules.0.count: count 2 is more than the 1 user this rule names, so it could never be met'],
    ],
    ['an expiry that is no duration', { approval: { rules: [{ roles: ['admin'] }], expires: 'soon' } }, ['approval.expires: expected a duration such as 30s, 10m, 1h or 2d']],
    ['a soak that is no duration', { soak: 'a while' }, ['soak: expected a duration such as 30s, 10m, 1h or 2d']],
    [
      'rollback approval without rules',
      { rollback_approval: true },
      ['rollback_approval: rollback_approval needs "approval" rules to say who approves a rollback'],
    ],
    [
      'a promote schedule with too few fields',
      { promote_schedule: { cron: '* * *' } },
      ['promote_schedule.cron: invalid cron expression "* * *": expected 5 or 6 fields, found 3'],
    ],
    ['a promote schedule that never fires', { promote_schedule: { cron: '0 6 31 2 *' } }, ['promote_schedule.cron: invalid cron expression "0 6 31 2 *": it never fires']],
    [
      'a promote schedule in an unknown time zone, said once',
      { promote_schedule: { cron: '0 6 * * *', timezone: 'Mars/Base' } },
      ['promote_schedule.timezone: time zone Mars/Base is unknown'],
    ],
  ];
  for (const [what, input, expected] of rows) {
    test(what, () => assert.deepEqual(refused(input), expected));
  }
});
