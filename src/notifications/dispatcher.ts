// What happens becomes notifications: run, approval and deployment changes on the bus are put
// into words (notifiers/message.ts) and stored in the outbox, one item per channel that wants
// them. The bus calls listeners inside the engine, so the listener only queues the event; the
// store reads and the outbox write happen on one chain behind it, in the order published.

import type { NotificationChannel, Notifications } from '../config/notifications.ts';
import { assertNever, type Deployment, type Run } from '../core/types.ts';
import { eligibleApprovers, type ApprovalPolicy } from '../delivery/approval-policy.ts';
import { authorsOf } from '../engine/approvals.ts';
import type { ApprovalRequest, EventBus, LiveEvent } from '../events/bus.ts';
import { InOrderListener } from '../events/in-order.ts';
import { approvalExpired, approvalWaiting, deployed, rolledBack, runFailed, runFixed } from '../notifiers/message.ts';
import type { Notification, NotificationEvent } from '../notifiers/notifier.ts';
import type { Store } from '../store/store.ts';
import type { Outbox } from './outbox.ts';

export interface DispatcherOptions {
  bus: EventBus;
  /** Read for the facts an event does not carry (a failed stage, the run before, the approvers). */
  store: Store;
  outbox: Pick<Outbox, 'enqueue'>;
  config: { notifications: Notifications; environments: Record<string, { approval?: ApprovalPolicy | undefined }> };
  /** Where people reach the server: links go to `${publicUrl}/runs/<id>`. */
  publicUrl: () => string;
  now?: () => Date;
  log?: (message: string) => void;
}

/** The notification a live event may make, told from the event alone (the listener's filter). */
export function notificationKindOf(event: LiveEvent): NotificationEvent | null {
  switch (event.type) {
    case 'run':
      return runKind(event.data);
    case 'approval':
      return 'approval.waiting';
    case 'deployment':
      if (event.data.status === 'rolled_back') return event.data.previousReleaseId !== null ? 'rolled_back' : null;
      if (event.data.status !== 'succeeded') return null;
      return event.data.kind === 'rollback' && event.data.previousReleaseId !== null ? 'rolled_back' : 'deployed';
    case 'stage':
    case 'log':
    case 'release':
      return null;
    default:
      return assertNever(event, 'live event');
  }
}

function runKind(run: Run): Extract<NotificationEvent, 'run.failed' | 'run.fixed' | 'approval.expired'> | null {
  switch (run.status) {
    case 'failed':
      return 'run.failed';
    // Fixed only if the run before it failed: the store says, later.
    case 'succeeded':
      return 'run.fixed';
    case 'expired':
      return 'approval.expired';
    case 'pending':
    case 'running':
    case 'waiting':
    case 'cancelled':
    case 'rejected':
      return null;
    default:
      return assertNever(run.status, 'run status');
  }
}

/** Whether the channel wants the notification: its event, its service, and its environment when it names some. */
export function subscribes(channel: NotificationChannel, notification: Notification): boolean {
  if (!channel.events.includes(notification.event)) return false;
  if (channel.services && !channel.services.includes(notification.service)) return false;
  if (channel.environments && (notification.environment === null || !channel.environments.includes(notification.environment))) return false;
  return true;
}

export class NotificationDispatcher {
  private readonly channels: NotificationChannel[];
  private readonly now: () => Date;
  private readonly log: (message: string) => void;
  private readonly listener: InOrderListener;

  constructor(private readonly options: DispatcherOptions) {
    this.channels = options.config.notifications.channels;
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => {});
    this.listener = new InOrderListener(
      options.bus,
      (event) => {
        const kind = notificationKindOf(event);
        return kind !== null && this.channels.some((channel) => channel.events.includes(kind));
      },
      (event) => this.dispatch(event),
      (event, message) => this.log(`notifications: ${event.type} event: ${message}`),
    );
  }

  /** Starts listening; without channels there is nothing to listen for. A stopped dispatcher stays stopped. */
  start(): void {
    if (this.channels.length > 0) this.listener.start();
  }

  /** Stops listening and resolves once what was heard is in the outbox. */
  stop(): Promise<void> {
    return this.listener.stop();
  }

  /** Resolves once every event heard so far is in the outbox (or was found to notify nobody). */
  idle(): Promise<void> {
    return this.listener.idle();
  }

  private async dispatch(event: LiveEvent): Promise<void> {
    const notification = await this.notificationOf(event);
    if (!notification) return;
    const entries = this.channels
      .filter((channel) => subscribes(channel, notification))
      // Keyed by its id: the same notification heard twice before it is sent goes out once.
      .map((channel) => ({ topic: 'notification' as const, destination: channel.name, key: `${channel.name}\n${notification.id}`, payload: notification }));
    await this.options.outbox.enqueue(entries);
  }

  /** The kind notificationKindOf told decides; the event's type follows from it (checked for the compiler). */
  private async notificationOf(event: LiveEvent): Promise<Notification | null> {
    const kind = notificationKindOf(event);
    switch (kind) {
      case 'run.failed':
      case 'run.fixed':
      case 'approval.expired':
        return event.type === 'run' ? this.aboutRun(event.data, kind) : null;
      case 'approval.waiting':
        return event.type === 'approval' ? this.approvalWaiting(event.data) : null;
      case 'deployed':
      case 'rolled_back':
        return event.type === 'deployment' ? this.aboutDeployment(event.data, kind) : null;
      case null:
        return null;
      default:
        return assertNever(kind, 'notification kind');
    }
  }

  private async aboutRun(run: Run, kind: NonNullable<ReturnType<typeof runKind>>): Promise<Notification | null> {
    const { store } = this.options;
    const link = this.link(`/runs/${run.id}`);
    const at = run.finishedAt ?? this.now().toISOString();
    switch (kind) {
      case 'run.failed': {
        const stages = await store.stages.listByRun(run.id);
        return runFailed({ run, failedStage: stages.find((stage) => stage.status === 'failed')?.name ?? null, link, at });
      }
      case 'run.fixed': {
        // Cancelled, rejected and expired runs reached no verdict on the code: they are passed over.
        const [before] = await store.runs.list({ service: run.service, lane: run.lane, statuses: ['succeeded', 'failed'], beforeId: run.id, limit: 1 });
        return before?.status === 'failed' ? runFixed({ run, failedRunId: before.id, link, at }) : null;
      }
      case 'approval.expired': {
        const requested = await this.requestOf(run.id);
        if (!requested) {
          this.log(`notifications: run ${run.id} expired, but its request for approval is not in the event log`);
          return null;
        }
        return approvalExpired({ runId: run.id, service: run.service, environment: requested.environment, releaseId: requested.releaseId, waitingFor: requested.waitingFor, link, at });
      }
      default:
        return assertNever(kind, 'run notification');
    }
  }

  private async approvalWaiting(request: ApprovalRequest): Promise<Notification | null> {
    const { store, config } = this.options;
    const [run, release] = await Promise.all([store.runs.get(request.runId), store.releases.get(request.releaseId)]);
    if (!run || !release) return null;
    const policy = config.environments[request.environment]?.approval;
    const approvers = policy ? eligibleApprovers(policy, await store.users.list(), authorsOf(run)) : [];
    return approvalWaiting({
      runId: run.id,
      service: run.service,
      environment: request.environment,
      releaseId: release.id,
      digest: release.digest,
      commitSha: release.commitSha,
      waitingFor: request.detail,
      expiresAt: request.expiresAt,
      link: this.link(`/runs/${run.id}/approval`),
      recipients: approvers.flatMap((approver) => (approver.email ? [approver.email] : [])),
      at: request.requestedAt,
    });
  }

  private async aboutDeployment(deployment: Deployment, kind: 'deployed' | 'rolled_back'): Promise<Notification | null> {
    const link = deployment.runId === null ? null : this.link(`/runs/${deployment.runId}`);
    const at = deployment.finishedAt ?? this.now().toISOString();
    const { service, environment, releaseId, runId } = deployment;
    if (deployment.status === 'rolled_back' && deployment.previousReleaseId !== null) {
      return rolledBack({ service, environment, fromReleaseId: releaseId, toReleaseId: deployment.previousReleaseId, reason: deployment.reason, automatic: true, actor: null, runId, link, at });
    }
    if (kind === 'rolled_back' && deployment.previousReleaseId !== null) {
      return rolledBack({ service, environment, fromReleaseId: deployment.previousReleaseId, toReleaseId: releaseId, reason: deployment.note, automatic: false, actor: deployment.actor, runId, link, at });
    }
    const release = await this.options.store.releases.get(releaseId);
    if (!release) return null;
    return deployed({ service, environment, releaseId, digest: release.digest, url: deployment.url, runId, link, at });
  }

  /** The run's newest request for approval, as the event log recorded it. */
  private async requestOf(runId: number): Promise<{ environment: string; releaseId: number; waitingFor: string } | null> {
    const [record] = await this.options.store.events.list({ runId, types: ['approval.requested'], order: 'newest', limit: 1 });
    if (!record || record.environment === null) return null;
    const data = record.data as { releaseId: number; waitingFor: string };
    return { environment: record.environment, releaseId: data.releaseId, waitingFor: data.waitingFor };
  }

  private link(path: string): string | null {
    const base = this.options.publicUrl().replace(/\/+$/, '');
    return base === '' ? null : `${base}${path}`;
  }
}
