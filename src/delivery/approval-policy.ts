// Who may approve a release into an environment, and whether the approvals given are enough.
// Pure: the caller brings the policy (config's ApprovalSettings), the people and the approvals.

import { allows } from '../core/roles.ts';
import { ROLES, type Role } from '../core/types.ts';

export interface ApprovalRule {
  /** Each admits its role and every role above it. */
  roles: Role[];
  /** Admitted by exact name. */
  users: string[];
  /** How many different people it takes. */
  count: number;
}

export interface ApprovalPolicy {
  rules: ApprovalRule[];
  expiresMs: number;
  selfApproval: boolean;
  keepOlder: boolean;
}

export interface Approver {
  name: string;
  role: Role;
  email: string | null;
}

export interface Authors {
  /** The user who started the run; null when nobody did (a push, a schedule). */
  runAuthor: string | null;
  commitAuthor: { name: string; email: string } | null;
}

export interface GivenApproval {
  user: string;
  role: Role;
  at: string;
}

export interface RuleProgress {
  rule: ApprovalRule;
  /** The different users whose approvals count toward the rule, in the order they approved. */
  approvedBy: string[];
  missing: number;
}

/**
 * Whether this user may approve: matches some rule (a role rule admits that role and any above
 * it; a users rule names them, exact name), and is not the run's author or the commit's author
 * unless selfApproval.
 */
export function mayApprove(policy: ApprovalPolicy, approver: Approver, authors: Authors): { ok: true } | { ok: false; reason: string } {
  if (!policy.rules.some((rule) => admits(rule, approver))) {
    return { ok: false, reason: `${approver.name} may not approve: approvals come from ${policy.rules.map(describeWho).join('; ')}` };
  }
  if (policy.selfApproval) return { ok: true };
  // Names compare without case here: a doubt about authorship refuses rather than admits.
  if (authors.runAuthor !== null && sameText(authors.runAuthor, approver.name)) {
    return { ok: false, reason: `${approver.name} started this run and cannot approve it (self_approval is off)` };
  }
  if (authors.commitAuthor && wroteCommit(approver, authors.commitAuthor)) {
    const { name, email } = authors.commitAuthor;
    return { ok: false, reason: `${approver.name} wrote the commit (as ${name} <${email}>) and cannot approve it (self_approval is off)` };
  }
  return { ok: true };
}

/**
 * Every rule must be met; one approval counts toward every rule its approver matches (as
 * GitLab's approval rules do). Approvals by the same user count once.
 */
export function approvalProgress(policy: ApprovalPolicy, approvals: GivenApproval[]): { met: boolean; rules: RuleProgress[] } {
  const firstByUser = new Map<string, GivenApproval>();
  for (const approval of approvals) {
    if (!firstByUser.has(approval.user)) firstByUser.set(approval.user, approval);
  }
  const distinct = [...firstByUser.values()];
  const rules = policy.rules.map((rule) => {
    const approvedBy = distinct.filter((approval) => admits(rule, { name: approval.user, role: approval.role })).map((approval) => approval.user);
    return { rule, approvedBy, missing: Math.max(0, rule.count - approvedBy.length) };
  });
  return { met: rules.every((progress) => progress.missing === 0), rules };
}

/** For people: "2 approvals from role deployer or above (1 given: alice); 1 from alice or bob (none given yet)". */
export function describeWaiting(policy: ApprovalPolicy, approvals: GivenApproval[]): string {
  return approvalProgress(policy, approvals)
    .rules.map(({ rule, approvedBy }, index) => {
      const amount = index === 0 ? `${rule.count} ${rule.count === 1 ? 'approval' : 'approvals'}` : String(rule.count);
      const given = approvedBy.length === 0 ? 'none given yet' : `${approvedBy.length} given: ${approvedBy.join(', ')}`;
      return `${amount} from ${describeWho(rule)} (${given})`;
    })
    .join('; ');
}

/** Which of these users may approve (for notifying them). */
export function eligibleApprovers(policy: ApprovalPolicy, users: Approver[], authors: Authors): Approver[] {
  return users.filter((user) => mayApprove(policy, user, authors).ok);
}

function admits(rule: ApprovalRule, who: { name: string; role: Role }): boolean {
  return rule.users.includes(who.name) || rule.roles.some((needed) => allows(who.role, needed));
}

/** The user's name is the commit author's name or its email's local part, or the user's email is the commit's. */
function wroteCommit(approver: Approver, author: { name: string; email: string }): boolean {
  const localPart = author.email.split('@')[0] ?? '';
  return (
    sameText(approver.name, author.name) ||
    (localPart !== '' && sameText(approver.name, localPart)) ||
    (approver.email !== null && author.email !== '' && sameText(approver.email, author.email))
  );
}

function sameText(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** "role deployer or above", "alice or bob", "role admin, carol or dave". */
function describeWho(rule: ApprovalRule): string {
  const lowest = ROLES.find((role) => rule.roles.includes(role));
  const roleText = lowest === undefined ? [] : [lowest === ROLES[ROLES.length - 1] ? `role ${lowest}` : `role ${lowest} or above`];
  const parts = [...roleText, ...rule.users];
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`;
}
