// Who may use Slipway: users with a role each, API tokens per user, passwords where a user has
// one. The API, the CLI's first start and (later) the dashboard all go through this service, so
// the rules (who may manage whose tokens, that one admin always stays) live in one place, and
// every change is written to the event log with the name of who made it.

import { SlipwayError } from '../core/errors.ts';
import { allows } from '../core/roles.ts';
import type { ApiToken, Role, User } from '../core/types.ts';
import type { Store } from '../store/store.ts';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from './passwords.ts';
import { looksLikeToken, newTokenValue, tokenHash } from './tokens.ts';

/** Who is calling: a user, through one of its tokens. */
export interface Principal {
  user: User;
  token: ApiToken;
}

/** Why a call was refused; counted by reason, never with the token that was sent. */
export const REFUSAL_REASONS = ['missing_token', 'malformed_token', 'unknown_token', 'forbidden', 'bad_password', 'too_large'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: RefusalReason; error: SlipwayError };

/** A new token's value, shown once, and how it is listed from then on. */
export interface IssuedToken {
  value: string;
  token: ApiToken;
  user: User;
}

const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A use is recorded at most this often per token: one write a minute, not one per request. */
const TOUCH_EVERY_MS = 60_000;
/** Verified when the user does not exist, so a wrong name costs what a wrong password costs. */
const DECOY_HASH = 'scrypt$32768$8$1$c2xpcHdheS1kZWNveS1zYWx0$Y2Fubm90LW1hdGNoLWFueS1wYXNzd29yZC1ldmVyLi4';

export const FIRST_ADMIN = 'admin';

export class AccessService {
  constructor(
    private readonly store: Store,
    private readonly options: { now?: () => Date; log?: (message: string) => void } = {},
  ) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /**
   * On a server's first start, the first admin and a token for the CLI on this machine; null
   * when users exist already.
   */
  async bootstrap(tokenName: string, password?: string): Promise<IssuedToken | null> {
    if ((await this.store.users.count()) > 0) return null;
    const passwordHash = password === undefined ? null : await hashPassword(checkedPassword(password));
    return this.store.transaction(async (tx) => {
      if ((await tx.users.count()) > 0) return null;
      const user = (await tx.users.create({ name: FIRST_ADMIN, role: 'admin', passwordHash }))!;
      const value = newTokenValue();
      const token = await tx.tokens.create({ userId: user.id, name: tokenName, hash: tokenHash(value) });
      await tx.events.append({ type: 'user.created', runId: null, service: null, actor: null, data: { user: user.name, role: user.role, by: 'first start' } });
      return { value, token, user };
    });
  }

  /** The caller an `Authorization` header names, or why it names none. */
  async authenticate(authorization: string | undefined): Promise<Authentication> {
    if (!authorization) return refused('missing_token', 'UNAUTHENTICATED', 'this needs an API token: send "Authorization: Bearer <token>" (slipway login stores one for the CLI)');
    const [scheme, value, ...rest] = authorization.trim().split(/\s+/);
    if (scheme?.toLowerCase() !== 'bearer' || value === undefined || rest.length > 0 || !looksLikeToken(value)) {
      return refused('malformed_token', 'UNAUTHENTICATED', 'the Authorization header is not "Bearer <token>" with a Slipway token (slw_...)');
    }
    const found = await this.store.tokens.byHash(tokenHash(value));
    if (!found) return refused('unknown_token', 'UNAUTHENTICATED', 'the API token is not valid: it was revoked, or never issued by this server');
    this.recordUse(found.token);
    return { ok: true, principal: found };
  }

  /** Checks a password and issues a token named `tokenName`; one message for every failure, so names cannot be probed. */
  async login(name: string, password: string, tokenName: string): Promise<{ ok: true; issued: IssuedToken } | Extract<Authentication, { ok: false }>> {
    const user = await this.store.users.byName(name);
    const hash = user ? await this.store.users.passwordHash(user.id) : null;
    const matches = await verifyPassword(password, hash ?? DECOY_HASH);
    if (!user || hash === null || !matches) return refused('bad_password', 'UNAUTHENTICATED', 'wrong user name or password');
    return { ok: true, issued: await this.issue(user, tokenName, user.name) };
  }

  listUsers(): Promise<User[]> {
    return this.store.users.list();
  }

  async addUser(actor: Principal, request: { name: string; role: Role; password?: string; email?: string }): Promise<User> {
    this.require(actor, 'admin', 'add users');
    if (!USER_NAME.test(request.name)) {
      throw new SlipwayError('BAD_REQUEST', `"${request.name}" is not a user name (lower-case letters, digits, ".", "_" and "-", up to 64)`);
    }
    const email = request.email === undefined ? null : checkedEmail(request.email);
    const passwordHash = request.password === undefined ? null : await hashPassword(checkedPassword(request.password));
    const user = await this.store.transaction(async (tx) => {
      const created = await tx.users.create({ name: request.name, role: request.role, passwordHash, email });
      if (!created) throw new SlipwayError('USER_EXISTS', `a user named ${request.name} exists already`);
      await this.audit(tx, actor, 'user.created', { user: created.name, role: created.role, password: passwordHash !== null });
      return created;
    });
    return user;
  }

  /**
   * Changes a user's role (admins only) and password (admins, or the user themself), all or
   * nothing: every check is made before anything is written.
   */
  async updateUser(actor: Principal, name: string, patch: { role?: Role; password?: string; email?: string | null }): Promise<User> {
    if (patch.role !== undefined) this.require(actor, 'admin', 'change roles');
    if (patch.password !== undefined && actor.user.name !== name) this.require(actor, 'admin', "set another user's password");
    if (patch.email !== undefined && actor.user.name !== name) this.require(actor, 'admin', "set another user's e-mail address");
    const email = patch.email === undefined || patch.email === null ? patch.email : checkedEmail(patch.email);
    const passwordHash = patch.password === undefined ? undefined : await hashPassword(checkedPassword(patch.password));
    return this.store.transaction(async (tx) => {
      const user = await userNamed(tx, name);
      if (patch.role !== undefined && user.role === 'admin' && patch.role !== 'admin') {
        await keepAnAdmin(tx, `${name} is the last admin; make another user admin first`);
      }
      const updated = (await tx.users.update(user.id, { role: patch.role, passwordHash, email }))!;
      if (patch.role !== undefined && patch.role !== user.role) await this.audit(tx, actor, 'user.role_changed', { user: name, from: user.role, to: patch.role });
      if (passwordHash !== undefined) await this.audit(tx, actor, 'user.password_set', { user: name });
      if (email !== undefined && email !== user.email) await this.audit(tx, actor, 'user.email_set', { user: name });
      return updated;
    });
  }

  /** Removes the user and every token of theirs. */
  async removeUser(actor: Principal, name: string): Promise<void> {
    this.require(actor, 'admin', 'remove users');
    await this.store.transaction(async (tx) => {
      const user = await userNamed(tx, name);
      if (user.role === 'admin') await keepAnAdmin(tx, `${name} is the last admin; make another user admin first`);
      await tx.users.delete(user.id);
      await this.audit(tx, actor, 'user.removed', { user: name, role: user.role });
    });
  }

  /** A token for `userName` (the caller's own when omitted); only an admin issues tokens for others. */
  async createToken(actor: Principal, request: { name: string; user?: string }): Promise<IssuedToken> {
    const owner = request.user === undefined || request.user === actor.user.name ? actor.user : await userNamed(this.store, request.user);
    if (owner.id !== actor.user.id) this.require(actor, 'admin', 'create tokens for other users');
    return this.issue(owner, request.name, actor.user.name);
  }

  /** The caller's tokens; an admin may ask for one user's (`user`) or everyone's (`all`). */
  async listTokens(actor: Principal, filter: { user?: string; all?: boolean } = {}): Promise<Array<ApiToken & { user: string }>> {
    const users = new Map((await this.store.users.list()).map((user) => [user.id, user.name]));
    let userId: number | undefined = actor.user.id;
    if (filter.all) {
      this.require(actor, 'admin', "list other users' tokens");
      userId = undefined;
    } else if (filter.user !== undefined && filter.user !== actor.user.name) {
      this.require(actor, 'admin', "list other users' tokens");
      userId = (await userNamed(this.store, filter.user)).id;
    }
    const tokens = await this.store.tokens.list({ userId });
    return tokens.map((token) => ({ ...token, user: users.get(token.userId) ?? '?' }));
  }

  /** Revokes one of the caller's tokens, or, for an admin, anyone's. */
  async revokeToken(actor: Principal, id: number): Promise<ApiToken> {
    return this.store.transaction(async (tx) => {
      const token = await tx.tokens.get(id);
      // Another user's token reads as missing to a non-admin: ids do not reveal who has tokens.
      if (!token || (token.userId !== actor.user.id && !allows(actor.user.role, 'admin'))) {
        throw new SlipwayError('TOKEN_NOT_FOUND', `no API token ${id}${allows(actor.user.role, 'admin') ? '' : ' of yours'}`);
      }
      await tx.tokens.delete(id);
      await this.audit(tx, actor, 'token.revoked', { tokenId: id, name: token.name, owner: token.userId === actor.user.id ? actor.user.name : undefined });
      return token;
    });
  }

  private async issue(owner: User, name: string, actorName: string): Promise<IssuedToken> {
    const tokenName = name.trim();
    if (tokenName === '' || tokenName.length > 100) throw new SlipwayError('BAD_REQUEST', 'a token name needs 1 to 100 characters');
    const value = newTokenValue();
    const token = await this.store.transaction(async (tx) => {
      const created = await tx.tokens.create({ userId: owner.id, name: tokenName, hash: tokenHash(value) });
      await tx.events.append({ type: 'token.created', runId: null, service: null, actor: actorName, data: { tokenId: created.id, name: tokenName, owner: owner.name } });
      return created;
    });
    return { value, token, user: owner };
  }

  private require(actor: Principal, role: Role, what: string): void {
    if (!allows(actor.user.role, role)) throw new SlipwayError('FORBIDDEN', `only a user with role ${role} may ${what}; ${actor.user.name} is ${actor.user.role}`);
  }

  private async audit(store: Store, actor: Principal, type: string, data: Record<string, unknown>): Promise<void> {
    await store.events.append({ type, runId: null, service: null, actor: actor.user.name, data });
  }

  /** Written behind the request: a failure to record a use must not fail the call. */
  private recordUse(token: ApiToken): void {
    const now = this.now();
    if (token.lastUsedAt !== null && now.getTime() - Date.parse(token.lastUsedAt) < TOUCH_EVERY_MS) return;
    const notBefore = new Date(now.getTime() - TOUCH_EVERY_MS).toISOString();
    this.store.tokens.touch(token.id, now.toISOString(), notBefore).catch((error: unknown) => this.options.log?.(`recording a use of token ${token.id}: ${String(error)}`));
  }
}

function refused(reason: RefusalReason, code: 'UNAUTHENTICATED' | 'FORBIDDEN', message: string): { ok: false; reason: RefusalReason; error: SlipwayError } {
  return { ok: false, reason, error: new SlipwayError(code, message) };
}

function checkedPassword(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH) throw new SlipwayError('BAD_REQUEST', `a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.length > 1024) throw new SlipwayError('BAD_REQUEST', 'a password may have at most 1024 characters');
  return password;
}

async function userNamed(store: Store, name: string): Promise<User> {
  const user = await store.users.byName(name);
  if (!user) throw new SlipwayError('USER_NOT_FOUND', `no user named ${name}`);
  return user;
}

/** Inside the caller's transaction, so two admins cannot demote each other at once. */
async function keepAnAdmin(store: Store, message: string): Promise<void> {
  const admins = (await store.users.list()).filter((user) => user.role === 'admin');
  if (admins.length <= 1) throw new SlipwayError('LAST_ADMIN', message);
}

/** Where approval requests go: one plain address, no display name or list (it reaches an SMTP envelope). */
function checkedEmail(email: string): string {
  const trimmed = email.trim();
  if (!/^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/.test(trimmed) || trimmed.length > 254) {
    throw new SlipwayError('BAD_REQUEST', `"${email}" is not an e-mail address such as ada@example.com`);
  }
  return trimmed;
}
