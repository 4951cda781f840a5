// Everything that starts runs by itself, wired together: webhook deliveries (receiver ->
// inbox -> trigger service), schedules, polling, and the commit statuses that go back.
// The server and the tests build it the same way.

import type { Config } from '../config/model.ts';
import { redactUrls } from '../core/redact.ts';
import type { Engine } from '../engine/engine.ts';
import type { EventBus } from '../events/bus.ts';
import type { ForgeEvent, StatusReporter } from '../forges/forge.ts';
import { GiteaForge } from '../forges/gitea/forge.ts';
import { createStatusReporter as giteaReporter } from '../forges/gitea/status.ts';
import { GitForge } from '../forges/git/forge.ts';
import { GitHubForge } from '../forges/github/forge.ts';
import { createStatusReporter as githubReporter } from '../forges/github/status.ts';
import { GitLabForge } from '../forges/gitlab/forge.ts';
import { createStatusReporter as gitlabReporter } from '../forges/gitlab/status.ts';
import type { Outbox, OutboxSender } from '../notifications/outbox.ts';
import type { SecretKeeper } from '../secrets/environment.ts';
import type { Source } from '../source/source.ts';
import type { Store } from '../store/store.ts';
import { CommitStatusNotifier, commitStatusSender } from './commit-status.ts';
import { polledRepositories, scheduleSpecs, statusTargets } from './from-config.ts';
import { DeliveryInbox } from './inbox.ts';
import { NO_COMMIT, Poller, type BranchMoved } from './polling.ts';
import { apiUrlOf } from './repositories.ts';
import { ScheduleRunner } from './schedules.ts';
import { WebhookSecrets } from './secrets.ts';
import type { PreviewEnvironments } from '../previews/previews.ts';
import { TriggerService } from './trigger.ts';
import { deliveryHandler, deliveryTriage, WebhookReceiver } from './webhooks.ts';

export interface TriggersOptions {
  config: Config;
  store: Store;
  bus: EventBus;
  engine: Engine;
  source: Source;
  secretBox: Pick<SecretKeeper, 'seal' | 'unseal'>;
  /** Where commit statuses wait to be sent (its sender for them: statusSender); without one, none are reported. */
  outbox?: Pick<Outbox, 'enqueue'>;
  /** Pull requests' previews, removed when their pull request is closed or merged. */
  previews?: Pick<PreviewEnvironments, 'removeFor'> | null;
  now?: () => Date;
  log?: (message: string) => void;
}

const REPORTERS = { github: githubReporter, gitlab: gitlabReporter, gitea: giteaReporter } as const;

export type Triggers = Awaited<ReturnType<typeof createTriggers>>;

/** Ready to receive webhooks once it resolves (the secrets set through the API are loaded). */
export async function createTriggers({ config, store, bus, engine, source, secretBox, outbox, previews, now, log = () => {} }: TriggersOptions) {
  const secrets = new WebhookSecrets(config, store, secretBox);
  await secrets.load(log);
  const service = new TriggerService({ engine, store, source, previews });
  const inbox = new DeliveryInbox(store, deliveryHandler(service), { now, log, triage: deliveryTriage(service) });
  const receiver = new WebhookReceiver([new GitHubForge(), new GitLabForge(), new GiteaForge(), new GitForge()], secrets, inbox, now);
  const schedules = new ScheduleRunner({ schedules: scheduleSpecs(config), cursors: store.cursors, startRun: (request) => engine.startRun(request), now, log });
  const poller = new Poller({
    repositories: polledRepositories(config),
    source,
    cursors: store.cursors,
    onMoved: async (change) => {
      const outcome = await service.handle(pushOf(change), 'git');
      log(`poll: ${change.branch} of ${redactUrls(change.repo)} moved to ${change.after.slice(0, 12)}: ${outcome.summary}`);
    },
    log,
  });
  let notifier: CommitStatusNotifier | null = null;

  return {
    secrets,
    receiver,
    schedules,
    inbox,
    /**
     * Call before the engine starts, so the statuses of recovered runs are reported too.
     * `publicUrl`: where people reach the server; statuses link to runs under it.
     */
    open(publicUrl: string): void {
      if (!outbox) return;
      notifier = new CommitStatusNotifier({
        bus,
        store,
        outbox,
        targetOf: statusTargets(config, (forge, settings) => REPORTERS[forge](settings)),
        publicUrl,
        log,
      });
      notifier.start();
    },
    /** Call once the engine runs: hands over deliveries left from before, arms schedules and polling. */
    async start(): Promise<void> {
      const leftOver = await inbox.start();
      if (leftOver > 0) log(`handling ${leftOver} webhook deliveries received before the last stop`);
      await schedules.start();
      poller.start();
    },
    async stop(): Promise<void> {
      schedules.stop();
      await poller.stop();
      await inbox.stop();
    },
    /** After the engine stopped, before the outbox stops: the last states heard of are stored, to be sent after the next start. */
    async close(): Promise<void> {
      await notifier?.stop();
    },
  };
}

/**
 * The outbox's sender of commit statuses: each goes to the forge its item names, with the token
 * and API that slipway.yml gives that forge now. Reporters are made once per forge.
 */
export function statusSender(config: Config): OutboxSender {
  const reporters = new Map<string, StatusReporter | null>();
  return commitStatusSender((forge) => {
    if (!reporters.has(forge)) reporters.set(forge, reporterOf(config, forge));
    return reporters.get(forge) ?? null;
  });
}

function reporterOf(config: Config, forge: string): StatusReporter | null {
  if (forge !== 'github' && forge !== 'gitlab' && forge !== 'gitea') return null;
  const settings = config.forges[forge];
  const apiUrl = settings?.token ? apiUrlOf(forge, settings) : null;
  return settings?.token && apiUrl ? REPORTERS[forge]({ apiUrl, token: settings.token }) : null;
}

/** A polled branch that moved is handled like a push a hook would have reported. */
function pushOf(change: BranchMoved): ForgeEvent {
  return {
    kind: 'push',
    deliveryId: `poll:${redactUrls(change.repo)}#${change.branch}@${change.after}`,
    // Summaries and the event log name the repository: never with the credentials in its URL.
    repository: { fullName: redactUrls(change.repo), urls: [change.repo] },
    sender: 'poller',
    branch: change.branch,
    before: change.before,
    after: change.after,
    created: change.before === NO_COMMIT,
    deleted: change.after === NO_COMMIT,
    // Polling cannot tell; where the diff between the two heads fails, the trigger service
    // compares with the last successful run instead.
    forced: false,
    commitCount: change.after === NO_COMMIT ? 0 : 1,
  };
}
