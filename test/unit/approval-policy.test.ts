import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApprovalSettings } from '../../src/config/delivery.ts';
import {
  approvalProgress,
  describeWaiting,
  eligibleApprovers,
  mayApprove,
  type ApprovalPolicy,
  type Approver,
  type Authors,
  type GivenApproval,
} from '../../src/delivery/approval-policy.ts';
import type { Role } from '../../src/core/types.ts';

/** Policies as slipway.yml gives them, through the schema. */
const policy = (settings: object): ApprovalPolicy => ApprovalSettings.parse(settings);

const DEPLOYERS = policy({ rules: [{ roles: ['deployer'] }] });
const TWO_DEPLOYERS_AND_A_LEAD = policy({ rules: [{ roles: ['deployer'], count: 2 }, { users: ['alice', 'bob'] }] });

const person = (name: string, role: Role, email: string | null = `${name}@example.com`): Approver => ({ name, role, email });
const approval = (user: string, role: Role, minute = 0): GivenApproval => ({ user, role, at: `2026-05-01T10:${String(minute).padStart(2, '0')}:00Z` });
const NOBODY: Authors = { runAuthor: null, commitAuthor: null };

describe('mayApprove: the rules', () => {
  const rows: Array<[what: string, policy: ApprovalPolicy, approver: Approver, expected: true | string]> = [
    ['the role itself', DEPLOYERS, person('dana', 'deployer'), true],
    ['a role above it', DEPLOYERS, person('root', 'admin'), true],
    [
      'a role below it',
      DEPLOYERS,
      person('dev', 'developer'),
      'dev may not approve: approvals come from role deployer or above',
    ],
    ['a viewer', DEPLOYERS, person('val', 'viewer'), 'val may not approve: approvals come from role deployer or above'],
    ['a named user of any role', policy({ rules: [{ users: ['vic'] }] }), person('vic', 'viewer'), true],
    [
      'names are exact',
      policy({ rules: [{ users: ['vic'] }] }),
      person('Vic', 'admin'),
      'Vic may not approve: approvals come from vic',
    ],
    ['a user matching only the second rule', TWO_DEPLOYERS_AND_A_LEAD, person('alice', 'developer'), true],
    [
      'a user matching no rule',
      TWO_DEPLOYERS_AND_A_LEAD,
      person('carol', 'developer'),
      'carol may not approve: approvals come from role deployer or above; alice or bob',
    ],
    [
      'roles and users in one rule',
      policy({ rules: [{ roles: ['admin'], users: ['carol', 'dave'] }] }),
      person('erin', 'deployer'),
      'erin may not approve: approvals come from role admin, carol or dave',
    ],
    ['the lowest of several roles decides', policy({ rules: [{ roles: ['admin', 'developer'] }] }), person('dev', 'developer'), true],
  ];
  for (const [what, rules, approver, expected] of rows) {
    test(what, () => assert.deepEqual(mayApprove(rules, approver, NOBODY), expected === true ? { ok: true } : { ok: false, reason: expected }));
  }
});

describe('mayApprove: self approval', () => {
  const alice = person('alice', 'deployer', 'alice@example.com');
  const commit = (name: string, email: string): Authors => ({ runAuthor: null, commitAuthor: { name, email } });
  const rows: Array<[what: string, authors: Authors, refused: string | null]> = [
    ['she started the run', { runAuthor: 'alice', commitAuthor: null }, 'alice started this run and cannot approve it (self_approval is off)'],
    ['she started the run (other case)', { runAuthor: 'Alice', commitAuthor: null }, 'alice started this run and cannot approve it (self_approval is off)'],
    ['someone else started it', { runAuthor: 'bob', commitAuthor: null }, null],
    [
      'the commit names her',
      commit('Alice', 'a.liddell@corp.example'),
      'alice wrote the commit (as Alice <a.liddell@corp.example>) and cannot approve it (self_approval is off)',
    ],
    [
      "the commit email's local part is her name",
      commit('A. Liddell', 'ALICE@users.noreply.example'),
      'alice wrote the commit (as A. Liddell <ALICE@users.noreply.example>) and cannot approve it (self_approval is off)',
    ],
    [
      'the commit email is hers',
      commit('A. Liddell', 'Alice@Example.com'),
      'alice wrote the commit (as A. Liddell <Alice@Example.com>) and cannot approve it (self_approval is off)',
    ],
    ['the commit is somebody else\'s', commit('Bob', 'bob@example.com'), null],
    ['a local part that only contains her name', commit('Bob', 'alice.b@example.com'), null],
  ];
  for (const [what, authors, refused] of rows) {
    test(`${what}: ${refused ? 'refused' : 'allowed'}`, () => {
      assert.deepEqual(mayApprove(DEPLOYERS, alice, authors), refused ? { ok: false, reason: refused } : { ok: true });
    });
    test(`${what}: allowed with self_approval`, () => {
      assert.deepEqual(mayApprove(policy({ rules: [{ roles: ['deployer'] }], self_approval: true }), alice, authors), { ok: true });
    });
  }

  test('a user without an email is matched by name only', () => {
    const noEmail = person('alice', 'deployer', null);
    assert.deepEqual(mayApprove(DEPLOYERS, noEmail, commit('Someone', 'someone@example.com')), { ok: true });
    assert.equal(mayApprove(DEPLOYERS, noEmail, commit('alice', 'someone@example.com')).ok, false);
  });

  test('self approval does not admit someone the rules do not', () => {
    const lenient = policy({ rules: [{ roles: ['deployer'] }], self_approval: true });
    assert.equal(mayApprove(lenient, person('dev', 'developer'), { runAuthor: 'dev', commitAuthor: null }).ok, false);
  });
});

describe('approvalProgress', () => {
  test('one approval counts toward every rule its approver matches', () => {
    const progress = approvalProgress(TWO_DEPLOYERS_AND_A_LEAD, [approval('alice', 'deployer'), approval('dana', 'deployer', 1)]);
    assert.equal(progress.met, true);
    assert.deepEqual(
      progress.rules.map(({ approvedBy, missing }) => ({ approvedBy, missing })),
      [
        { approvedBy: ['alice', 'dana'], missing: 0 },
        { approvedBy: ['alice'], missing: 0 },
      ],
    );
  });

  test('a rule left unmet keeps the whole unmet', () => {
    const progress = approvalProgress(TWO_DEPLOYERS_AND_A_LEAD, [approval('dana', 'deployer'), approval('erin', 'admin', 1)]);
    assert.equal(progress.met, false);
    assert.deepEqual(progress.rules.map((rule) => rule.missing), [0, 1]);
  });

  test('approvals by the same user count once', () => {
    const progress = approvalProgress(TWO_DEPLOYERS_AND_A_LEAD, [approval('alice', 'deployer'), approval('alice', 'deployer', 5)]);
    assert.equal(progress.met, false);
    assert.deepEqual(progress.rules[0], { rule: TWO_DEPLOYERS_AND_A_LEAD.rules[0], approvedBy: ['alice'], missing: 1 });
  });

  test('approvals from people no rule admits count toward nothing', () => {
    const progress = approvalProgress(DEPLOYERS, [approval('dev', 'developer')]);
    assert.deepEqual(progress, { met: false, rules: [{ rule: DEPLOYERS.rules[0], approvedBy: [], missing: 1 }] });
  });

  test('no approvals, nothing met', () => {
    assert.equal(approvalProgress(DEPLOYERS, []).met, false);
  });
});

describe('describeWaiting', () => {
  test('each rule, with what was given toward it', () => {
    assert.equal(
      describeWaiting(TWO_DEPLOYERS_AND_A_LEAD, [approval('dana', 'deployer')]),
      '2 approvals from role deployer or above (1 given: dana); 1 from alice or bob (none given yet)',
    );
    assert.equal(describeWaiting(DEPLOYERS, []), '1 approval from role deployer or above (none given yet)');
    assert.equal(
      describeWaiting(policy({ rules: [{ users: ['alice', 'bob', 'carol'], count: 2 }] }), [approval('bob', 'viewer'), approval('bob', 'viewer', 1)]),
      '2 approvals from alice, bob or carol (1 given: bob)',
    );
  });
});

describe('eligibleApprovers', () => {
  test('those the rules admit, without the authors', () => {
    const users = [person('alice', 'deployer'), person('bob', 'viewer'), person('carol', 'developer'), person('dana', 'deployer'), person('root', 'admin')];
    const authors: Authors = { runAuthor: 'dana', commitAuthor: { name: 'Root User', email: 'root@example.com' } };
    assert.deepEqual(
      eligibleApprovers(TWO_DEPLOYERS_AND_A_LEAD, users, authors).map((user) => user.name),
      ['alice', 'bob'],
    );
    const selfApproving = { ...TWO_DEPLOYERS_AND_A_LEAD, selfApproval: true };
    assert.deepEqual(
      eligibleApprovers(selfApproving, users, authors).map((user) => user.name),
      ['alice', 'bob', 'dana', 'root'],
    );
  });
});
