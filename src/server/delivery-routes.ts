// /api routes for delivery: approving and rejecting a waiting run, promoting and rolling back
// releases, where releases serve, environment locks, environment secrets (names only, ever) and
// the audit log. Roles: any user reads; approvals need developer or above and then what the
// environment's policy says; promote, rollback and locks need deployer; forcing a promotion and
// secrets need admin.

import { Hono } from 'hono';
import { z } from 'zod';
import type { ApprovalState, DeliveryStarted } from '../client/delivery-api.ts';
import { SlipwayError } from '../core/errors.ts';
import { allows } from '../core/roles.ts';
import type { Role } from '../core/types.ts';
import { approvalProgress, eligibleApprovers, mayApprove } from '../delivery/approval-policy.ts';
import type { Deployments } from '../deployments/service.ts';
import { authorsOf, policyAt } from '../engine/approvals.ts';
import type { Engine } from '../engine/engine.ts';
import { releaseOf } from '../engine/stages/gate.ts';
import type { EnvironmentSecrets } from '../secrets/environment.ts';
import type { Store } from '../store/store.ts';
import { allow, principalOf, type ApiEnv, type Refusals } from './auth.ts';
import { Id, Limit, parse, readJson, readOptionalJson } from './validation.ts';

const Comment = z.string().trim().min(1).max(2000);
const ApproveBody = z.object({ comment: Comment.optional() }).strict();
const RejectBody = z.object({ comment: Comment }, { error: 'a rejection needs a comment saying why' }).strict();
const Reason = z.string().trim().min(1).max(2000);
const PromoteBody = z.object({ release: Id, environment: z.string().min(1), force: z.boolean().optional(), reason: Reason.optional() }).strict();
const RollbackBody = z.object({ environment: z.string().min(1), to: Id.optional(), reason: Reason.optional() }).strict();
const LockBody = z.object({ environment: z.string().min(1), service: z.string().min(1).optional(), reason: Reason }).strict();
const SecretBody = z.object({ value: z.string().min(1, 'expected a value'), service: z.string().min(1).optional() }).strict();
const Since = z.iso.datetime({ offset: true, error: 'expected an ISO date-time such as 2026-12-01T09:00:00Z' }).optional();

export interface DeliveryRouteDeps {
  engine: Engine;
  store: Store;
  deployments: Deployments;
  secrets: EnvironmentSecrets;
  refusals: Refusals;
}

export function deliveryRoutes({ engine, store, deployments, secrets, refusals }: DeliveryRouteDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  const developer = allow('developer', refusals);
  const deployer = allow('deployer', refusals);
  const admin = allow('admin', refusals);

  async function approvalState(runId: number, viewer: { name: string; role: Role; email: string | null }): Promise<ApprovalState> {
    const run = await store.runs.get(runId);
    if (!run) throw new SlipwayError('RUN_NOT_FOUND', `run ${runId} does not exist`);
    const stages = await store.stages.listByRun(run.id);
    const stage = stages.find((candidate) => candidate.status === 'waiting') ?? stages.find((candidate) => candidate.kind === 'deploy' && candidate.status !== 'skipped');
    if (!stage) throw new SlipwayError('NOT_WAITING', `run ${run.id} deploys nowhere`);
    const release = await releaseOf({ store }, run);
    const policy = policyAt({ config: engine.config }, run, stage);
    const decisions = (await store.approvals.list({ stageId: stage.id })).filter((decision) => decision.digest === release?.digest);
    const given = decisions.filter((decision) => decision.decision === 'approve').map(({ user, role, at }) => ({ user, role, at }));
    const users = (await store.users.list()).map(({ name, role, email }) => ({ name, role, email }));
    const you = policy ? mayApprove(policy, viewer, authorsOf(run)) : { ok: false as const, reason: `${stage.environment} needs no approval` };
    return {
      runId: run.id,
      service: run.service,
      environment: stage.environment!,
      release,
      wait: stage.status === 'waiting' ? stage.wait : null,
      needsApproval: policy !== null,
      decisions,
      rules: policy ? approvalProgress(policy, given).rules.map(({ rule, approvedBy, missing }) => ({ ...rule, approvedBy, missing })) : [],
      eligible: policy ? eligibleApprovers(policy, users, authorsOf(run)).map((user) => user.name) : [],
      you: you.ok ? { mayApprove: stage.status === 'waiting', reason: stage.status === 'waiting' ? null : `run ${run.id} is ${run.status}` } : { mayApprove: false, reason: you.reason },
    };
  }

  routes.get('/runs/:id/approval', async (c) => c.json(await approvalState(parse(Id, c.req.param('id'), 'run id'), principalOf(c).user)));
  routes.post('/runs/:id/approve', developer, async (c) => {
    const runId = parse(Id, c.req.param('id'), 'run id');
    const body = parse(ApproveBody, await readOptionalJson(c), 'body');
    const { user } = principalOf(c);
    await engine.decide({ runId, decision: 'approve', by: user, comment: body.comment ?? null });
    return c.json(await approvalState(runId, user));
  });
  routes.post('/runs/:id/reject', developer, async (c) => {
    const runId = parse(Id, c.req.param('id'), 'run id');
    const body = parse(RejectBody, await readOptionalJson(c), 'body');
    const { user } = principalOf(c);
    await engine.decide({ runId, decision: 'reject', by: user, comment: body.comment });
    return c.json(await approvalState(runId, user));
  });

  routes.post('/services/:name/promote', deployer, async (c) => {
    const body = parse(PromoteBody, await readJson(c), 'body');
    const { user } = principalOf(c);
    if (body.force && !allows(user.role, 'admin')) {
      refusals.count('forbidden');
      throw new SlipwayError('FORBIDDEN', `only an admin may force a promotion; ${user.name} is ${user.role}`);
    }
    const started = await deployments.promote({ service: c.req.param('name'), releaseId: body.release, environment: body.environment, actor: user.name, force: body.force, reason: body.reason });
    return c.json({ ...started.run, queuePosition: null, stages: started.stages, preview: null } satisfies DeliveryStarted, 201);
  });
  routes.post('/services/:name/rollback', deployer, async (c) => {
    const body = parse(RollbackBody, await readJson(c), 'body');
    const started = await deployments.rollback({ service: c.req.param('name'), environment: body.environment, to: body.to, actor: principalOf(c).user.name, reason: body.reason ?? null });
    return c.json({ ...started.run, queuePosition: null, stages: started.stages, preview: null, from: started.from, to: started.to } satisfies DeliveryStarted, 201);
  });
  routes.get('/services/:name/releases', async (c) => c.json(await deployments.releases(c.req.param('name'), parse(Limit, c.req.query('limit'), 'limit') ?? 20)));

  routes.get('/locks', async (c) => c.json(await store.locks.list()));
  routes.post('/locks', deployer, async (c) => {
    const body = parse(LockBody, await readJson(c), 'body');
    return c.json(await deployments.lock(body.environment, body.service ?? null, body.reason, principalOf(c).user.name), 201);
  });
  routes.delete('/locks/:environment', deployer, async (c) => c.json(await deployments.unlock(c.req.param('environment'), c.req.query('service') || null, principalOf(c).user.name)));

  routes.get('/secrets', async (c) => c.json(await secrets.list(c.req.query('environment') || undefined)));
  routes.put('/secrets/:environment/:name', admin, async (c) => {
    const body = parse(SecretBody, await readJson(c), 'body');
    const target = { environment: c.req.param('environment'), service: body.service ?? null, name: c.req.param('name') };
    return c.json(await secrets.set(target, body.value, principalOf(c).user.name));
  });
  routes.delete('/secrets/:environment/:name', admin, async (c) => {
    await secrets.delete({ environment: c.req.param('environment'), service: c.req.query('service') || null, name: c.req.param('name') }, principalOf(c).user.name);
    return c.body(null, 204);
  });
  routes.post('/secrets/rotate-key', admin, async (c) => c.json(await secrets.rotateKey(principalOf(c).user.name)));

  /** The audit log, newest first: what people changed (all=1: and what Slipway did by itself). */
  routes.get('/audit', async (c) => {
    const query = (name: string) => c.req.query(name) || undefined;
    const types = query('type')?.split(',').map((type) => type.trim()).filter(Boolean);
    return c.json(
      await store.events.list({
        order: 'newest',
        byPeople: !(query('all') === '1' || query('all') === 'true'),
        actor: query('actor'),
        types,
        service: query('service'),
        environment: query('environment'),
        since: parse(Since, query('since'), 'since'),
        until: parse(Since, query('until'), 'until'),
        beforeId: query('before') ? parse(Id, query('before'), 'before') : undefined,
        limit: parse(Limit, query('limit'), 'limit') ?? 100,
      }),
    );
  });

  return routes;
}

/** An approval may come without a body. */
