// Tells the forge how each run at a commit stands, from the run changes on the bus.
//
// The bus calls its listeners inside the engine, so the listener only queues the run change;
// the wanted state is then stored in the outbox, which sends it off the engine's path, retries
// it with backoff, and sends it after a restart: a forge that is down costs the run nothing.
// Per commit status (forge, repository, sha, context) only the newest wanted state matters: the
// item's key makes a newer state replace one not yet sent. A pull request's run whose preview
// stage ran also reports `slipway/<service>/preview`, linked to the preview itself.

import { describeError } from '../core/errors.ts';
import { InOrderListener } from '../events/in-order.ts';
import { previewEnvironment, pullRequestOfLane } from '../core/previews.ts';
import { assertNever, isTerminalRun, type Run, type Stage } from '../core/types.ts';
import type { EventBus } from '../events/bus.ts';
import type { CommitState, CommitStatus, StatusReporter } from '../forges/forge.ts';
import type { Outbox, OutboxSender } from '../notifications/outbox.ts';
import { NotifyError } from '../notifiers/notifier.ts';
import type { Store } from '../store/store.ts';

export interface StatusTarget {
  reporter: StatusReporter;
  /** The repository's full name on that forge. */
  repository: string;
}

export interface CommitStatusNotifierOptions {
  bus: EventBus;
  /** Where a failed run's stages are read. */
  store: Store;
  /** Where wanted states wait to be sent. */
  outbox: Pick<Outbox, 'enqueue'>;
  /** Null: this run's repository has no reporter, and nothing is reported. */
  targetOf(run: Run): StatusTarget | null;
  /** Slipway's public address; a status links to `${publicUrl}/runs/<id>`. */
  publicUrl: string;
  log?: (message: string) => void;
}

/** What a commit_status item carries; its destination is the forge. */
interface StatusPayload {
  runId: number;
  service: string;
  status: CommitStatus;
}

/** The state and sentence a run shows on the forge. `failedStage`: the stage a failed run failed at, if known. */
export function commitStateOf(run: Run, failedStage: Stage | null): { state: CommitState; description: string } {
  const name = `Run #${run.id}`;
  switch (run.status) {
    case 'pending':
      return { state: 'pending', description: `${name} is queued` };
    case 'running':
      return { state: 'running', description: `${name} is running` };
    case 'waiting':
      return { state: 'pending', description: `${name} is waiting at a gate` };
    case 'rejected':
      return { state: 'failure', description: `${name} was rejected` };
    case 'expired':
      return { state: 'failure', description: `${name} expired waiting for approval` };
    case 'succeeded':
      return { state: 'success', description: `${name} succeeded` };
    case 'failed':
      // A commit that cannot be checked out says nothing about the code: no verdict, an error.
      if (failedStage?.kind === 'checkout') return { state: 'error', description: `${name} could not check out the commit` };
      return { state: 'failure', description: failedStage ? `${name} failed at stage ${failedStage.name}` : `${name} failed` };
    case 'cancelled':
      return { state: 'cancelled', description: `${name} was cancelled` };
    default:
      return assertNever(run.status, 'run status');
  }
}

export class CommitStatusNotifier {
  private readonly log: (message: string) => void;
  private readonly listener: InOrderListener;

  constructor(private readonly options: CommitStatusNotifierOptions) {
    this.log = options.log ?? (() => {});
    this.listener = new InOrderListener(
      options.bus,
      (event) => event.type === 'run',
      async (event) => {
        if (event.type === 'run') await this.want(event.data);
      },
      (event, message) => this.log(`commit status of run ${event.type === 'run' ? event.data.id : '?'}: ${message}`),
    );
  }

  /** Starts listening to run changes. A stopped notifier stays stopped. */
  start(): void {
    this.listener.start();
  }

  /** Stops listening and resolves once every state heard of is in the outbox. */
  stop(): Promise<void> {
    return this.listener.stop();
  }

  /** Resolves once every run change heard so far is in the outbox (or was found to report nothing). */
  idle(): Promise<void> {
    return this.listener.idle();
  }

  private async want(run: Run): Promise<void> {
    if (run.commitSha === '') return;
    const target = this.options.targetOf(run);
    if (!target) return;
    const statuses = [await this.statusOf(target, run), ...(await this.previewStatusOf(target, run))];
    await this.options.outbox.enqueue(
      statuses.map((status) => ({
        topic: 'commit_status',
        destination: target.reporter.forge,
        key: [target.reporter.forge, target.repository, run.commitSha, status.context].join('\n'),
        payload: { runId: run.id, service: run.service, status } satisfies StatusPayload,
      })),
    );
  }

  /** Once a pull request's run ends, how its preview stage went, linked to the preview when it serves. */
  private async previewStatusOf(target: StatusTarget, run: Run): Promise<CommitStatus[]> {
    const pullRequest = pullRequestOfLane(run.lane);
    if (pullRequest === null || !isTerminalRun(run.status)) return [];
    const stage = (await this.options.store.stages.listByRun(run.id)).find((candidate) => candidate.kind === 'preview');
    if (!stage || (stage.status !== 'succeeded' && stage.status !== 'failed')) return [];
    const environment = previewEnvironment(run.service, pullRequest);
    const preview = await this.options.store.previews.live(environment);
    const serving = stage.status === 'succeeded' && preview?.status === 'ready' && preview.url !== null && preview.commitSha === run.commitSha;
    // A preview a newer commit (or a removal) has taken over since says nothing about this one.
    if (stage.status === 'succeeded' && !serving) return [];
    return [
      {
        repository: target.repository,
        sha: run.commitSha,
        state: serving ? 'success' : 'failure',
        context: `slipway/${run.service}/preview`,
        description: serving ? `Preview ${environment} is ready` : `Preview ${environment} failed${stage.reason ? `: ${stage.reason}` : ''}`.slice(0, 140),
        targetUrl: serving ? preview.url! : `${this.options.publicUrl.replace(/\/+$/, '')}/runs/${run.id}`,
      },
    ];
  }

  private async statusOf(target: StatusTarget, run: Run): Promise<CommitStatus> {
    const { state, description } = commitStateOf(run, run.status === 'failed' ? await this.failedStageOf(run) : null);
    return {
      repository: target.repository,
      sha: run.commitSha,
      state,
      context: `slipway/${run.service}`,
      description,
      targetUrl: `${this.options.publicUrl.replace(/\/+$/, '')}/runs/${run.id}`,
    };
  }

  /** Without the stages (the store failing) the status still goes out, saying less. */
  private async failedStageOf(run: Run): Promise<Stage | null> {
    try {
      const stages = await this.options.store.stages.listByRun(run.id);
      return stages.find((stage) => stage.status === 'failed') ?? null;
    } catch (error) {
      this.log(`commit status of run ${run.id}: cannot read its stages: ${describeError(error)}`);
      return null;
    }
  }
}

/** The outbox's sender of commit_status items: each to the reporter of the forge its destination names. */
export function commitStatusSender(reporterOf: (forge: string) => StatusReporter | null): OutboxSender {
  const payloadOf = (payload: unknown) => payload as StatusPayload;
  return {
    send(item, signal) {
      const reporter = reporterOf(item.destination);
      // The forge lost its token (or its section) in slipway.yml since the state was stored.
      if (!reporter) return Promise.reject(new NotifyError(`no commit statuses are reported to ${item.destination}: it has no token in slipway.yml`, false));
      return reporter.report(payloadOf(item.payload).status, signal);
    },
    describe(item) {
      const { runId, service, status } = payloadOf(item.payload);
      return {
        runId,
        service,
        environment: null,
        summary: `${status.state} for ${status.repository}@${status.sha.slice(0, 12)} (${status.context})`,
        data: { repository: status.repository, sha: status.sha, state: status.state, context: status.context },
      };
    },
  };
}
