// The trigger service: turns a forge event into the runs it calls for, for exactly the
// services it affects, and says what it did in one sentence (kept with the delivery).
//
//   push         to a service's branch: a full run of each service whose path (or a path it
//                depends on) changed between before and after, by git's own diff. A new
//                branch or a forced push compares with the service's last successful run on
//                the branch, or runs it when there is none. A deleted branch cancels the
//                lane's unfinished runs. A push handled after its branch moved on (a late or
//                redelivered one) never deploys its older commit: its run stops after the build.
//   pull_request into a service's branch: a partial run (up to the build) of the services
//                the pull request's head changes against that branch. One from a fork follows
//                the repository's `fork_pull_requests`: skip (nothing), untrusted (the
//                default: command stages only, in containers, without secrets) or trusted.
//                Its integration and preview stages run too. Closed or merged, its runs in
//                flight are cancelled and its previews removed.
//   tag          a run of each service of the repository, whose release carries the tag. It
//                deploys only where `deploy_tags` names the tag (and the tag still names the
//                commit); otherwise it stops after the build.
//   ping         nothing.
// Services that a push leaves alone get a "trigger.skipped" event saying why.

import { forkPolicyFor, tagDeploys, type Config, type ForkPullRequestPolicy, type Service } from '../config/model.ts';
import { assertNever, type Result, type Run } from '../core/types.ts';
import type { Engine, StartRunRequest } from '../engine/engine.ts';
import type { ForgeEvent, ForgeName, RepositoryRef } from '../forges/forge.ts';
import { isZeroSha } from '../core/sha.ts';
import type { PreviewEnvironments } from '../previews/previews.ts';
import type { Source } from '../source/source.ts';
import type { Store } from '../store/store.ts';
import { servicesOf } from './repositories.ts';

export interface TriggerOutcome {
  runs: Run[];
  /** One sentence for people: what the event led to. */
  summary: string;
}

type PushEvent = Extract<ForgeEvent, { kind: 'push' }>;
type PullRequestEvent = Extract<ForgeEvent, { kind: 'pull_request' }>;
type TagEvent = Extract<ForgeEvent, { kind: 'tag' }>;

/** What a push changed for one service: its changed files, or everything (no base to compare). */
type Changes = { files: string[]; since: string } | { files: 'all'; why: string };

export interface TriggerServiceOptions {
  engine: Pick<Engine, 'config' | 'startRun' | 'cancelLane'>;
  store: Store;
  source: Source;
  previews?: Pick<PreviewEnvironments, 'removeFor'> | null;
}

export class TriggerService {
  constructor(private readonly options: TriggerServiceOptions) {}

  private get config(): Config {
    return this.options.engine.config;
  }

  /**
   * Why the event starts nothing whatever its repository holds (no service builds the branch,
   * a fork's pull request where forks are skipped, a ping), or null when handle() has work to
   * do. Pure: config only, no git, no store.
   */
  triage(event: ForgeEvent, forge: ForgeName): string | null {
    switch (event.kind) {
      case 'push':
        return this.servicesBuilding(event.repository, event.branch).length === 0
          ? `no service builds branch ${event.branch} of ${event.repository.fullName}`
          : null;
      case 'pull_request':
        if (this.servicesBuilding(event.repository, event.baseBranch).length === 0) {
          return `no service builds pull requests into ${event.baseBranch} of ${event.repository.fullName}`;
        }
        return event.fromFork && this.forkPolicy(forge, event.repository) === 'skip'
          ? `pull request #${event.number} comes from a fork, and fork_pull_requests is skip for ${event.repository.fullName}: nothing runs`
          : null;
      case 'tag':
        if (servicesOf(this.config, event.repository).length === 0) return `no service builds ${event.repository.fullName}`;
        return event.deleted ? `tag ${event.tag} was deleted; its releases stay` : null;
      case 'ping':
        return 'ping answered';
      default:
        return assertNever(event, 'forge event');
    }
  }

  async handle(event: ForgeEvent, forge: ForgeName): Promise<TriggerOutcome> {
    const settled = this.triage(event, forge);
    if (settled !== null) return nothing(settled);
    switch (event.kind) {
      case 'push':
        return this.push(event, forge);
      case 'pull_request':
        return this.pullRequest(event, forge);
      case 'tag':
        return this.tag(event, forge);
      case 'ping':
        return nothing('ping answered');
      default:
        return assertNever(event, 'forge event');
    }
  }

  private servicesBuilding(repository: RepositoryRef, branch: string): string[] {
    return servicesOf(this.config, repository).filter((name) => this.service(name).branch === branch);
  }

  private forkPolicy(forge: ForgeName, repository: RepositoryRef): ForkPullRequestPolicy {
    // Plain git has no pull requests; were a fork's to come from it, it would get the least.
    return forge === 'git' ? 'untrusted' : forkPolicyFor(this.config, forge, repository.fullName);
  }

  private async push(event: PushEvent, forge: ForgeName): Promise<TriggerOutcome> {
    const services = this.servicesBuilding(event.repository, event.branch);
    if (event.deleted) {
      const cancelled: Run[] = [];
      for (const name of services) {
        cancelled.push(...(await this.options.engine.cancelLane(name, event.branch, `branch ${event.branch} was deleted`)));
      }
      return {
        runs: [],
        summary: cancelled.length
          ? `branch ${event.branch} was deleted; cancelled ${list(cancelled.map((run) => `run #${run.id}`))}`
          : `branch ${event.branch} was deleted; no run of it was in flight`,
      };
    }

    const linear = !event.created && !event.forced && !isZeroSha(event.before);
    const diffs = new Map<string, Promise<Changes>>();
    const heads = new Map<string, Promise<Result<string>>>();
    // A fetch made while handling this push (the diff's, usually) shows the branch as it is now.
    const handlingSince = Date.now();
    const started: Run[] = [];
    const notes: string[] = [];
    for (const name of services) {
      const service = this.service(name);
      let changes: Changes;
      if (linear) {
        // One diff per repository serves all of its services.
        if (!diffs.has(service.repo)) diffs.set(service.repo, this.diff(service.repo, event.before, event.after));
        changes = await diffs.get(service.repo)!;
        if (changes.files === 'all') changes = await this.sinceLastSuccess(name, service, event.branch, event.after);
      } else {
        changes = await this.sinceLastSuccess(name, service, event.branch, event.after);
      }
      const reason = untouched(changes, service);
      if (reason) {
        await this.skipped(name, forge, event.deliveryId, event.after, reason);
        notes.push(`${name}: ${reason}`);
        continue;
      }
      const head = await this.currentCommit(heads, service.repo, event.branch, handlingSince);
      const stale = head !== null && head !== event.after ? `${short(event.after)} is no longer the head of ${event.branch} (now ${short(head)})` : null;
      const run = await this.start(
        { service: name, ref: event.branch, commitSha: event.after, trigger: { kind: 'push', by: event.sender }, ...partial(stale) },
        notes,
      );
      if (run) started.push(stopsAfterBuild(run, stale, notes));
    }
    return outcome(started, notes, `push to ${event.branch}`);
  }

  private async pullRequest(event: PullRequestEvent, forge: ForgeName): Promise<TriggerOutcome> {
    if (event.action === 'closed' || event.action === 'merged') return this.pullRequestEnded(event);
    const services = this.servicesBuilding(event.repository, event.baseBranch);
    // triage() has turned away a fork where forks are skipped; anything short of trusted is untrusted.
    const untrusted = event.fromFork && this.forkPolicy(forge, event.repository) !== 'trusted';
    const started: Run[] = [];
    const notes: string[] = [];
    for (const name of services) {
      const service = this.service(name);
      const base = await this.options.source.resolve(service.repo, event.baseBranch);
      const changes: Changes = base.ok ? await this.diff(service.repo, base.value, event.headSha) : { files: 'all', why: base.error.message };
      const reason = untouched(changes, service);
      if (reason) {
        await this.skipped(name, forge, event.deliveryId, event.headSha, reason);
        notes.push(`${name}: ${reason}`);
        continue;
      }
      const run = await this.start(
        {
          service: name,
          ref: event.headBranch,
          commitSha: event.headSha,
          pullRequest: event.number,
          untrusted,
          trigger: { kind: 'pull_request', by: event.sender },
        },
        notes,
      );
      if (run) started.push(run);
    }
    const from = !event.fromFork
      ? ''
      : untrusted
        ? ' from a fork (untrusted: command stages only, in containers, without secrets; nothing is built or deployed)'
        : ' from a fork (trusted: fork_pull_requests is trusted)';
    return outcome(started, notes, `pull request #${event.number}${from}`);
  }

  /** A closed or merged pull request: its runs still in flight are cancelled and its previews removed; nothing starts. */
  private async pullRequestEnded(event: PullRequestEvent): Promise<TriggerOutcome> {
    const what = `pull request #${event.number} was ${event.action}`;
    const services = this.servicesBuilding(event.repository, event.baseBranch);
    const cancelled: Run[] = [];
    for (const name of services) cancelled.push(...(await this.options.engine.cancelLane(name, `pr/${event.number}`, what)));
    const removed = (await this.options.previews?.removeFor(services, event.number, what)) ?? [];
    const parts = [
      cancelled.length ? `cancelled ${list(cancelled.map((run) => `run #${run.id}`))}` : 'no run of it was in flight',
      ...(removed.length ? [`removed the preview${removed.length === 1 ? '' : 's'} ${list(removed.map((preview) => preview.environment))}`] : []),
    ];
    return { runs: [], summary: `${what}; ${parts.join('; ')}` };
  }

  private async tag(event: TagEvent, _forge: ForgeName): Promise<TriggerOutcome> {
    const services = servicesOf(this.config, event.repository);
    const started: Run[] = [];
    const notes: string[] = [];
    const tags = new Map<string, Promise<Result<string>>>();
    const handlingSince = Date.now();
    for (const name of services) {
      let why: string | null = null;
      if (!tagDeploys(this.config, name, event.tag)) why = `tag ${event.tag} matches no deploy_tags pattern`;
      else {
        // A late delivery of a tag that was moved or deleted since must not deploy what it named.
        const now = await this.currentCommit(tags, this.service(name).repo, event.tag, handlingSince);
        if (now !== null && now !== event.sha) why = `tag ${event.tag} now names ${short(now)}, not ${short(event.sha)}`;
      }
      const run = await this.start(
        { service: name, tag: event.tag, commitSha: event.sha, trigger: { kind: 'tag', by: event.sender }, ...partial(why) },
        notes,
      );
      if (run) started.push(stopsAfterBuild(run, why, notes));
    }
    return outcome(started, notes, `tag ${event.tag}`);
  }

  private service(name: string): Service {
    return this.config.services[name]!;
  }

  private async start(request: StartRunRequest, notes: string[]): Promise<Run | null> {
    const started = await this.options.engine.startRun(request);
    if (started.ok) return started.value.run;
    notes.push(`${request.service}: not started: ${started.error.message}`);
    return null;
  }

  /**
   * The commit a branch or tag names now (fetched), asked once per repository of an event; null
   * when it cannot be read. That stops nothing here: the run needs the repository too, and a
   * branch deleted since is cancelled by its deletion, handled after this delivery.
   */
  private async currentCommit(asked: Map<string, Promise<Result<string>>>, repo: string, ref: string, fetchedSince: number): Promise<string | null> {
    let resolved = asked.get(repo);
    if (!resolved) asked.set(repo, (resolved = this.options.source.resolve(repo, ref, { fetchedSince })));
    const commit = await resolved;
    return commit.ok ? commit.value : null;
  }

  private async diff(repo: string, from: string, to: string): Promise<Changes> {
    const files = await this.options.source.changedFiles(repo, from, to);
    return files.ok ? { files: files.value, since: from } : { files: 'all', why: files.error.message };
  }

  /** For a new branch or a rewritten one: what changed since the service last succeeded on it. */
  private async sinceLastSuccess(name: string, service: Service, branch: string, to: string): Promise<Changes> {
    const [last] = await this.options.store.runs.list({ service: name, lane: branch, statuses: ['succeeded'], limit: 1 });
    if (!last) return { files: 'all', why: `no earlier successful run of ${name} on ${branch}` };
    return this.diff(service.repo, last.commitSha, to);
  }

  private async skipped(service: string, forge: ForgeName, deliveryId: string, commitSha: string, reason: string): Promise<void> {
    await this.options.store.events.append({ type: 'trigger.skipped', runId: null, service, data: { forge, deliveryId, commitSha, reason } });
  }
}

/** Why a service need not run for these changes, or null when it must. */
function untouched(changes: Changes, service: Service): string | null {
  if (changes.files === 'all') return null;
  if (changes.files.length === 0) return `no file changed since ${short(changes.since)}`;
  const watched = [service.path, ...service.depends_on_paths];
  const touched = changes.files.some((file) => watched.some((path) => path === '.' || file === path || file.startsWith(`${path}/`)));
  return touched ? null : `no change under ${list(watched)} since ${short(changes.since)}`;
}

/** Why a run stops after the build, as the engine takes it, or nothing. */
function partial(why: string | null): Pick<StartRunRequest, 'partial'> {
  return why === null ? {} : { partial: `${why}; its run stops after the build` };
}

/** Says, among the notes, that the run stops after the build and why. */
function stopsAfterBuild(run: Run, why: string | null, notes: string[]): Run {
  if (why !== null) notes.push(`${run.service}: ${why}; run #${run.id} stops after the build`);
  return run;
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

function nothing(summary: string): TriggerOutcome {
  return { runs: [], summary };
}

function outcome(started: Run[], notes: string[], what: string): TriggerOutcome {
  const runs = started.map((run) => `run #${run.id} of ${run.service}`);
  const head = runs.length ? `${what} started ${list(runs)}` : `${what} started no run`;
  return { runs: started, summary: notes.length ? `${head} (${notes.join('; ')})` : head };
}

function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
