// Deploy, promote and roll back by release, for everyone who asks: the API, the CLI, schedules.
// Each is a run of its own (Engine.startDelivery) through the environment's gate like any
// deploy, so it waits, is approved, shows its log and survives restarts the same way. Locks
// stop promotions into an environment until unlocked. Every request is in the audit log.

import type { Config } from '../config/model.ts';
import { SlipwayError } from '../core/errors.ts';
import type { Deployment, EnvironmentLock, Release, Run, Stage } from '../core/types.ts';
import { chainFor, previousEnvironment } from '../delivery/chain.ts';
import type { Engine } from '../engine/engine.ts';
import type { Store } from '../store/store.ts';

export interface PromoteRequest {
  service: string;
  releaseId: number;
  environment: string;
  actor: string;
  /** Past the chain's order, soak and windows; the API lets only an admin, with a reason. */
  force?: boolean;
  reason?: string | null;
}

export interface RollbackRequest {
  service: string;
  environment: string;
  /** The release to go back to; the one that served before the current one when omitted. */
  to?: number;
  actor: string;
  reason: string | null;
}

/** A release and where it is: serving now, and where it served before (until when). */
export interface ReleasePlacement {
  release: Release;
  serving: string[];
  servedBefore: Array<{ environment: string; until: string }>;
}

export class Deployments {
  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
    private readonly config: Config,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async promote(request: PromoteRequest): Promise<{ run: Run; stages: Stage[] }> {
    const release = await this.releaseOf(request.service, request.releaseId);
    this.checkEnvironment(request.service, request.environment);
    const serving = await this.store.deployments.current(request.service, request.environment);
    if (serving?.releaseId === release.id) throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `release #${release.id} already serves ${request.environment}`);
    const forced = request.force === true;
    if (forced && !request.reason?.trim()) throw new SlipwayError('BAD_REQUEST', 'a forced promotion needs a reason (-m)');
    const started = await this.engine.startDelivery({ kind: 'promote', release, environment: request.environment, actor: request.actor, note: request.reason ?? null, forced });
    if (!started.ok) throw started.error;
    await this.audit(forced ? 'promotion.forced' : 'promotion.requested', request.actor, release.service, request.environment, started.value.run.id, {
      releaseId: release.id,
      digest: release.digest,
      reason: request.reason ?? null,
    });
    return started.value;
  }

  async rollback(request: RollbackRequest): Promise<{ run: Run; stages: Stage[]; from: number; to: number }> {
    this.checkEnvironment(request.service, request.environment);
    const current = await this.store.deployments.current(request.service, request.environment);
    if (!current) throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `nothing serves ${request.service} in ${request.environment}: there is nothing to roll back`);
    const toId = request.to ?? (await this.releaseBefore(current));
    if (toId === null) throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `release #${current.releaseId} is the only one that served ${request.service} in ${request.environment}; name one with --to`);
    if (toId === current.releaseId) throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `release #${toId} already serves ${request.environment}`);
    const release = await this.releaseOf(request.service, toId);
    const started = await this.engine.startDelivery({ kind: 'rollback', release, environment: request.environment, actor: request.actor, note: request.reason, forced: false });
    if (!started.ok) throw started.error;
    await this.audit('rollback.requested', request.actor, release.service, request.environment, started.value.run.id, {
      fromReleaseId: current.releaseId,
      toReleaseId: release.id,
      digest: release.digest,
      reason: request.reason,
    });
    return { ...started.value, from: current.releaseId, to: release.id };
  }

  /**
   * A scheduled promotion: the newest release that served the previous environment healthy for
   * its soak (and still serves there), unless it already serves here or is on its way.
   */
  async promoteSoaked(service: string, environment: string, actor: string): Promise<{ run: Run } | { skipped: string }> {
    const previous = previousEnvironment(this.config, service, environment);
    if (previous === undefined) return { skipped: `${service} does not deploy to ${environment}` };
    if (previous === null) return { skipped: `${environment} is the first environment of ${service}: its runs deploy there` };
    const candidate = await this.store.deployments.current(service, previous);
    if (!candidate) return { skipped: `nothing serves ${service} in ${previous}` };
    const soak = this.config.environments[previous]?.soak ?? 0;
    const since = Date.parse(candidate.finishedAt ?? candidate.startedAt);
    if (this.now().getTime() < since + soak) return { skipped: `release #${candidate.releaseId} soaks in ${previous} until ${new Date(since + soak).toISOString()}` };
    const serving = await this.store.deployments.current(service, environment);
    if (serving?.releaseId === candidate.releaseId) return { skipped: `release #${candidate.releaseId} already serves ${environment}` };
    const inFlight = await this.store.runs.list({ service, lane: `deploy/${environment}`, statuses: ['pending', 'running', 'waiting'] });
    if (inFlight.some((run) => run.releaseId === candidate.releaseId)) return { skipped: `release #${candidate.releaseId} is already on its way to ${environment}` };
    const { run } = await this.promote({ service, releaseId: candidate.releaseId, environment, actor });
    return { run };
  }

  async lock(environment: string, service: string | null, reason: string, actor: string): Promise<EnvironmentLock> {
    this.checkLockTarget(environment, service);
    if (!reason.trim()) throw new SlipwayError('BAD_REQUEST', 'a lock needs a reason (-m)');
    const lock = await this.store.transaction(async (tx) => {
      const acquired = await tx.locks.acquire({ environment, service, reason, actor, at: this.now().toISOString() });
      if (acquired) await tx.events.append({ type: 'lock.set', runId: null, service, environment, actor, data: { reason } });
      return acquired;
    });
    if (!lock) {
      const existing = (await this.store.locks.list({ environment })).find((candidate) => candidate.service === service);
      throw new SlipwayError('ALREADY_LOCKED', `${describeScope(environment, service)} is already locked${existing ? ` by ${existing.actor}: ${existing.reason}` : ''}`);
    }
    return lock;
  }

  async unlock(environment: string, service: string | null, actor: string): Promise<EnvironmentLock> {
    this.checkLockTarget(environment, service);
    const lock = await this.store.transaction(async (tx) => {
      const released = await tx.locks.release(environment, service);
      if (released) await tx.events.append({ type: 'lock.released', runId: null, service, environment, actor, data: { reason: released.reason, lockedBy: released.actor } });
      return released;
    });
    if (!lock) throw new SlipwayError('NOT_LOCKED', `${describeScope(environment, service)} is not locked`);
    await this.engine.waker.wakeGate(environment, service, `${actor} unlocked ${describeScope(environment, service)}`);
    return lock;
  }

  /** The service's releases, newest first, with where each serves now and served before. */
  async releases(service: string, limit = 20): Promise<ReleasePlacement[]> {
    if (!Object.hasOwn(this.config.services, service)) throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${service}`);
    const releases = await this.store.releases.list({ service, limit });
    const deployments = await this.store.deployments.list({ service, statuses: ['succeeded'], limit: 1000 });
    return releases.map((release) => ({ release, ...placementOf(release.id, deployments) }));
  }

  private async releaseOf(service: string, releaseId: number): Promise<Release> {
    if (!Object.hasOwn(this.config.services, service)) throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${service}`);
    const release = await this.store.releases.get(releaseId);
    if (!release || release.service !== service) throw new SlipwayError('RELEASE_NOT_FOUND', `service ${service} has no release #${releaseId}`);
    if (release.origin === 'pull_request') throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `release #${release.id} was built for ${release.lane}, and a pull request's build is never deployed`);
    return release;
  }

  /** The newest release other than the current one that served before it. */
  private async releaseBefore(current: Deployment): Promise<number | null> {
    const served = await this.store.deployments.list({ service: current.service, environment: current.environment, statuses: ['succeeded'], limit: 200 });
    return served.find((deployment) => deployment.id < current.id && deployment.releaseId !== current.releaseId)?.releaseId ?? null;
  }

  private checkEnvironment(service: string, environment: string): void {
    if (!Object.hasOwn(this.config.environments, environment)) throw unknownEnvironment(this.config, environment);
    if (!chainFor(this.config, service).some((link) => link.environment === environment)) {
      throw new SlipwayError('RELEASE_NOT_DEPLOYABLE', `service ${service} does not deploy to ${environment}`);
    }
  }

  private checkLockTarget(environment: string, service: string | null): void {
    if (!Object.hasOwn(this.config.environments, environment)) throw unknownEnvironment(this.config, environment);
    if (service !== null && !Object.hasOwn(this.config.services, service)) throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${service}`);
  }

  private async audit(type: string, actor: string, service: string, environment: string, runId: number, data: Record<string, unknown>): Promise<void> {
    await this.store.events.append({ type, runId, service, environment, actor, data });
  }
}

function placementOf(releaseId: number, deployments: Deployment[]): Omit<ReleasePlacement, 'release'> {
  const serving: string[] = [];
  const servedBefore: ReleasePlacement['servedBefore'] = [];
  const seen = new Set<string>();
  // Newest first: the first deployment of each environment is what serves there now; a later
  // one replaced an earlier one at its own start.
  const replacedAt = new Map<string, string>();
  for (const deployment of deployments) {
    const environment = deployment.environment;
    if (deployment.releaseId === releaseId) {
      if (!seen.has(environment)) serving.push(environment);
      else if (!servedBefore.some((entry) => entry.environment === environment)) servedBefore.push({ environment, until: replacedAt.get(environment)! });
    }
    seen.add(environment);
    replacedAt.set(environment, deployment.finishedAt ?? deployment.startedAt);
  }
  return { serving, servedBefore };
}

function describeScope(environment: string, service: string | null): string {
  return service === null ? environment : `${service} in ${environment}`;
}

function unknownEnvironment(config: Config, environment: string): SlipwayError {
  const known = Object.keys(config.environments).join(', ') || 'none';
  return new SlipwayError('ENVIRONMENT_NOT_FOUND', `unknown environment ${environment} (known environments: ${known})`);
}
