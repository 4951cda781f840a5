// Pull requests' preview environments: a running copy of the system per service and pull
// request, in a sandbox of its own (its members call each other by name there), each service of
// it reached from outside through the proxy at `http://<member>.pr<n>-<service>.localhost:<port>`.
//
// A new commit makes a new generation beside the one serving: its sandbox starts, the proxy's
// checks pass, requests move to it, and the previous generation is drained and removed, so the
// address stays and answers throughout. A generation that fails leaves the previous one serving.
// Every change of a preview is compare-and-set on its status and generation in the store: an
// update that lost to a newer one, or to a removal, takes only its own generation away.

import type { Config } from '../config/model.ts';
import type { ProxySettings } from '../config/rollout.ts';
import { formatDuration } from '../core/durations.ts';
import { describeError } from '../core/errors.ts';
import { LIVE_PREVIEW_STATUSES, previewEnvironment, previewSandboxId, type Preview, type PreviewMember } from '../core/previews.ts';
import type { Release } from '../core/types.ts';
import type { RouteKey, Router, RouteSpec } from '../routers/router.ts';
import { SandboxFailure, type Sandbox, type SandboxMember } from '../sandboxes/sandbox.ts';
import type { Store } from '../store/store.ts';
import { evictions, expired, previewRoute, REMOVABLE_STATUSES, routedServices } from './plan.ts';

/** How long requests in flight on a previous generation may take to finish. */
const DRAIN_MS = 5_000;
/** How often expired previews are looked for. */
const SWEEP_EVERY_MS = 60_000;
/** Lines of a member's output shown when it does not start. */
const LAST_LINES = 30;

export interface PreviewRequest {
  service: string;
  pullRequest: number;
  runId: number;
  stageId: number;
  commitSha: string;
  /** The pull request's release: its service's image in the preview. */
  release: Release;
  /** Every container of the preview, the pull request's service first. */
  members: Array<SandboxMember & { kind: PreviewMember['kind']; releaseId: number | null }>;
  readyTimeoutMs: number;
}

export type PreviewOutcome = { ok: true; preview: Preview } | { ok: false; reason: string };

export interface PreviewsOptions {
  config: Config;
  store: Store;
  sandbox: Sandbox;
  /** The proxy, as seen by previews (routers/shared.ts): declare() sets previews' routes only. */
  router: Router;
  routePorts: ProxySettings['route_ports'];
  now?: () => Date;
  log?: (message: string) => void;
}

export class PreviewEnvironments {
  private readonly now: () => Date;
  private readonly log: (message: string) => void;
  /** Routes of generations this process is starting, by environment, until their preview records them. */
  private readonly pending = new Map<string, RouteSpec[]>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly options: PreviewsOptions) {
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => {});
  }

  /**
   * After a restart (its routes already declared by declareRoutes): previews whose first
   * generation was starting are failed (nothing serves them) and removals cut short are finished.
   * Then expired previews go, and again every minute until stop().
   */
  async start(): Promise<void> {
    const { store } = this.options;
    for (const preview of await store.previews.list({ statuses: ['starting'] })) {
      await store.previews.update(preview.id, { statuses: ['starting'], generation: preview.generation }, { status: 'failed', reason: 'the server stopped while it started', updatedAt: this.now().toISOString() });
    }
    for (const preview of await store.previews.list({ statuses: ['removing'] })) await this.finishRemoval(preview);
    await this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Makes the pull request's preview, or moves it to this commit with a new generation. */
  async deploy(request: PreviewRequest, log: (text: string) => void, signal: AbortSignal): Promise<PreviewOutcome> {
    const { store, sandbox, router } = this.options;
    const environment = previewEnvironment(request.service, request.pullRequest);
    const claimed = await this.claim(request, environment);
    if (!claimed.ok) return claimed;
    const { preview, previous } = claimed;
    const sandboxId = previewSandboxId(preview.id, preview.generation);
    const routed = routedServices(this.options.config, request.members);
    const keys: RouteKey[] = routed.map((service) => ({ service, environment }));
    log(previous?.sandboxId ? `Updating the preview ${environment} (generation ${preview.generation}) beside the one serving` : `Making the preview ${environment}`);
    try {
      await this.makeRoom(environment, log);
      const started = await sandbox.start(
        { id: sandboxId, runId: request.runId, stageId: request.stageId, members: request.members, readyTimeoutMs: request.readyTimeoutMs },
        log,
        signal,
      );
      this.pending.set(environment, await this.routes(environment, routed));
      await this.declare();
      for (const key of keys) await router.add(key, { id: sandboxId, address: started.addresses[key.service]! });
      await this.waitUp(keys, sandboxId, request.readyTimeoutMs, log, signal);
      const current = await store.previews.get(preview.id);
      if (current?.generation !== preview.generation || current.status === 'removing' || current.status === 'removed') throw new Superseded();
      for (const key of keys) await router.serve(key, [sandboxId]);
      const members = request.members.map(({ name, kind, image, releaseId }) => ({ name, kind, image, releaseId, url: routed.includes(name) ? (router.address({ service: name, environment })?.url ?? null) : null }));
      const url = members[0]?.url ?? null;
      const at = this.now();
      const ready = await store.previews.update(
        preview.id,
        { statuses: REMOVABLE_STATUSES, generation: preview.generation },
        { status: 'ready', sandboxId, members, releaseId: request.release.id, commitSha: request.commitSha, runId: request.runId, url, reason: null, updatedAt: at.toISOString(), expiresAt: this.expiry(at) },
      );
      if (!ready) throw new Superseded();
      this.pending.delete(environment);
      if (previous?.sandboxId) await this.retire(keys, previous.sandboxId, log);
      log(`The preview ${environment} serves ${request.commitSha.slice(0, 12)} at ${url ?? '(no member with a port)'}`);
      return { ok: true, preview: ready };
    } catch (error) {
      this.pending.delete(environment);
      if (error instanceof SandboxFailure) await this.showLastLines(sandboxId, error.member, log);
      await this.discard(keys, sandboxId);
      await this.declare().catch(() => {});
      if (error instanceof Superseded) return { ok: false, reason: `the preview ${environment} was updated by a newer commit or removed meanwhile` };
      const reason = signal.aborted ? String(signal.reason ?? 'cancelled') : describeError(error);
      await this.recordFailure(preview, reason);
      return { ok: false, reason: previous?.sandboxId ? `${reason}; the previous commit's preview still serves` : reason };
    }
  }

  /** Removes a preview (closed pull request, expiry, eviction, a person); null when it was not live. */
  async remove(id: number, why: string): Promise<Preview | null> {
    const { store } = this.options;
    const preview = await store.previews.get(id);
    if (!preview) return null;
    const removing = await store.previews.update(id, { statuses: REMOVABLE_STATUSES }, { status: 'removing', reason: why, updatedAt: this.now().toISOString() });
    if (!removing) return null;
    this.log(`removing the preview ${preview.environment}: ${why}`);
    return this.finishRemoval(removing);
  }

  /** Removes the previews of a pull request for these services. */
  async removeFor(services: readonly string[], pullRequest: number, why: string): Promise<Preview[]> {
    const removed: Preview[] = [];
    for (const service of services) {
      const live = await this.options.store.previews.live(previewEnvironment(service, pullRequest));
      const gone = live ? await this.remove(live.id, why) : null;
      if (gone) removed.push(gone);
    }
    return removed;
  }

  /** Removes previews not updated within their time to live. */
  async sweep(): Promise<void> {
    try {
      const live = await this.options.store.previews.list({ statuses: LIVE_PREVIEW_STATUSES });
      for (const preview of expired(live, this.now())) await this.remove(preview.id, `no new commit within ${formatDuration(this.options.config.previews.ttlMs)}`);
    } catch (error) {
      this.log(`previews: the sweep for expired previews failed: ${describeError(error)}`);
    }
  }

  /** A new preview at generation 1, or the live one raised a generation for this commit. */
  private async claim(request: PreviewRequest, environment: string): Promise<{ ok: true; preview: Preview; previous: Preview | null } | { ok: false; reason: string }> {
    const { store } = this.options;
    const at = this.now();
    for (let attempt = 0; attempt < 5; attempt++) {
      const made = await store.previews.create({ service: request.service, pullRequest: request.pullRequest, environment, commitSha: request.commitSha, runId: request.runId, createdAt: at.toISOString(), expiresAt: this.expiry(at) });
      if (made) return { ok: true, preview: made, previous: null };
      const live = await store.previews.live(environment);
      if (!live) continue;
      if (live.status === 'removing') return { ok: false, reason: `the preview ${environment} is being removed` };
      const raised = await store.previews.update(live.id, { statuses: [live.status], generation: live.generation }, { generation: live.generation + 1, runId: request.runId, status: live.status === 'failed' ? 'starting' : live.status });
      if (raised) return { ok: true, preview: raised, previous: live };
    }
    return { ok: false, reason: `the preview ${environment} kept changing under this run; try again` };
  }

  /** Removes the least recently updated previews while there are `max` others. */
  private async makeRoom(environment: string, log: (text: string) => void): Promise<void> {
    const live = await this.options.store.previews.list({ statuses: LIVE_PREVIEW_STATUSES });
    for (const preview of evictions(live, environment, this.options.config.previews.max)) {
      log(`Removing the preview ${preview.environment}, the least recently updated: at most ${this.options.config.previews.max} previews exist at once`);
      await this.remove(preview.id, `evicted: at most ${this.options.config.previews.max} previews exist at once, and ${environment} needed room`);
    }
  }

  private async finishRemoval(preview: Preview): Promise<Preview | null> {
    const { store, sandbox, router } = this.options;
    const keys = routedServices(this.options.config, preview.members).map((service) => ({ service, environment: preview.environment }));
    for (const key of keys) {
      for (const backend of await router.backends(key).catch(() => [])) await router.remove(key, backend.id, 0).catch(() => {});
    }
    // Its serving generation, and any generation a run was starting for it.
    const sandboxes = (await sandbox.list()).filter((found) => found.id.startsWith(`pv${preview.id}-`)).map((found) => found.id);
    for (const id of sandboxes) await sandbox.remove(id).catch((error: unknown) => this.log(`previews: could not remove sandbox ${id}: ${describeError(error)}`));
    const removed = await store.previews.update(preview.id, { statuses: ['removing'] }, { status: 'removed', sandboxId: null, url: null, removedAt: this.now().toISOString() });
    await this.declare();
    for (const key of keys) await store.routes.release(key.service, key.environment);
    return removed;
  }

  /** Has the proxy route to every live preview, as at start-up (before anything else is declared). */
  declareRoutes(): Promise<void> {
    return this.declare();
  }

  /** Declares every live preview's routes (and those of generations being started). */
  private async declare(): Promise<void> {
    const live = await this.options.store.previews.list({ statuses: REMOVABLE_STATUSES });
    const routes = new Map<string, RouteSpec[]>();
    for (const preview of live) routes.set(preview.environment, await this.routes(preview.environment, routedServices(this.options.config, preview.members)));
    for (const [environment, pending] of this.pending) {
      const known = new Set((routes.get(environment) ?? []).map((route) => route.service));
      routes.set(environment, [...(routes.get(environment) ?? []), ...pending.filter((route) => !known.has(route.service))]);
    }
    await this.options.router.declare([...routes.values()].flat());
  }

  private async routes(environment: string, services: readonly string[]): Promise<RouteSpec[]> {
    const specs: RouteSpec[] = [];
    for (const service of services) {
      const record = await this.options.store.routes.assign(service, environment, this.options.routePorts, this.now().toISOString());
      if (!record) throw new Error(`no free port is left in ${this.options.routePorts.from}-${this.options.routePorts.to} for ${service} in ${environment}`);
      specs.push(previewRoute(this.options.config, service, environment, record.port));
    }
    return specs;
  }

  /** Waits until the proxy's own checks pass for the new generation on every route. */
  private async waitUp(keys: RouteKey[], id: string, timeoutMs: number, log: (text: string) => void, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const key of keys) {
      for (;;) {
        signal.throwIfAborted();
        const state = (await this.options.router.backends(key)).find((backend) => backend.id === id);
        if (state?.health === 'up') break;
        if (Date.now() > deadline) throw new Error(`${key.service} did not pass the proxy's health check in time (last: ${state?.lastCheck ?? 'not on the proxy'})`);
        await new Promise((resolveWait) => setTimeout(resolveWait, 200));
      }
      log(`${key.service}: the proxy's health check passed`);
    }
  }

  private async retire(keys: RouteKey[], sandboxId: string, log: (text: string) => void): Promise<void> {
    for (const key of keys) await this.options.router.remove(key, sandboxId, DRAIN_MS).catch((error: unknown) => log(`${key.service}: the previous generation could not be taken off the proxy: ${describeError(error)}`));
    await this.options.sandbox.remove(sandboxId).catch((error: unknown) => log(`the previous generation's containers could not be removed: ${describeError(error)}`));
  }

  /** Takes a generation that will not serve away. */
  private async discard(keys: RouteKey[], sandboxId: string): Promise<void> {
    for (const key of keys) await this.options.router.remove(key, sandboxId, 0).catch(() => {});
    await this.options.sandbox.remove(sandboxId).catch((error: unknown) => this.log(`previews: could not remove sandbox ${sandboxId}: ${describeError(error)}`));
  }

  /** A failed first generation fails the preview; a failed update leaves the previous generation serving. */
  private async recordFailure(preview: Preview, reason: string): Promise<void> {
    const patch = preview.sandboxId ? { reason: `commit ${preview.commitSha.slice(0, 12)} still serves; a newer one failed: ${reason}` } : { status: 'failed' as const, reason };
    await this.options.store.previews.update(preview.id, { statuses: REMOVABLE_STATUSES, generation: preview.generation }, { ...patch, updatedAt: this.now().toISOString() });
  }

  private async showLastLines(sandboxId: string, member: string, log: (text: string) => void): Promise<void> {
    const lines = await this.options.sandbox.lastLines(sandboxId, member, LAST_LINES).catch(() => []);
    log(`Last lines of ${member}:${lines.length === 0 ? ' (none)' : ''}`);
    for (const line of lines) log(`${member} | ${line}`);
  }

  private expiry(from: Date): string {
    return new Date(from.getTime() + this.options.config.previews.ttlMs).toISOString();
  }
}

/** An update that lost to a newer generation or a removal. */
class Superseded extends Error {}
