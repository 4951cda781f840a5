// Delivery metrics from Slipway's own records: DORA's four measures (deployment frequency, lead
// time for changes, change failure rate, time to restore) per service and for the fleet, and
// the trends of runs (durations, stage durations, queue wait), over a period [from, to). Pure:
// the records and the period are parameters; docs/metrics.md says the same for people.
//
// Conventions shared by every measure:
//   - "Production" for a service is the last environment of its chain (delivery/chain.ts
//     chainFor): the environment its releases travel towards. A service that deploys nowhere has
//     no production and empty measures.
//   - A deployment belongs to the period when it finished in it (from <= finishedAt < to); one
//     still in progress belongs to none. Deployments of one service in one environment never
//     overlap, so their ids order them in time: "next" and "later" follow ids.
//   - What follows a deployment counts whenever it happened, after the period too: a rollback
//     next week still makes this week's deployment a failure, so a period's numbers may change
//     until what came after it is known.
//   - Days are UTC days ("2026-03-01"); a period's days are every UTC day it touches, and a series
//     lists each of them, oldest first, days without samples included.
//   - Percentiles are nearest-rank: the p-th percentile of n sorted samples is the one at rank
//     ceil(p/100 * n), counting from 1, so it is always a sample; the median is the 50th (the
//     lower middle one of an even count). No samples: null, never NaN.
//   - Durations are milliseconds; a negative one (a clock that went wrong, a commit dated in the
//     future) counts as 0.

import type {
  ChangeFailureRate,
  DayDurations,
  DeliveryMeasures,
  DeploymentFrequency,
  DurationStats,
  MetricsReport,
  RestoreSample,
  RunTrends,
  ServiceMetrics,
  StageDurations,
  TimeToRestore,
} from '../client/metrics-api.ts';
import { assertNever, type Deployment, type Run, type Stage } from '../core/types.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The deployment fields the measures read. */
export type DeploymentFacts = Pick<Deployment, 'id' | 'service' | 'environment' | 'releaseId' | 'status' | 'kind' | 'finishedAt'>;
/**
 * When a release's commit was made, as the run that built it read it (Run.committedAt; null for
 * a run from before Slipway read it), and when that run was created.
 */
export interface CommitFacts {
  releaseId: number;
  committedAt: Run['committedAt'];
  runCreatedAt: Run['createdAt'];
}
/** The run fields the trends read. */
export type RunFacts = Pick<Run, 'id' | 'service' | 'status' | 'createdAt' | 'startedAt' | 'finishedAt'>;
/** The stage fields the trends read. */
export type StageFacts = Pick<Stage, 'name' | 'position' | 'status' | 'startedAt' | 'finishedAt'>;

export interface MetricsInput {
  /** The period: ISO date-times, `from` inclusive, `to` exclusive. */
  from: string;
  to: string;
  /** The service asked for, or null for every service; echoed in the report. */
  service: string | null;
  /** The services in scope, each with its production environment (chainFor's last), or null when it deploys nowhere. */
  production: Array<{ service: string; environment: string | null }>;
  /**
   * The deployments into those production environments that finished at or after `from`
   * (those after `to` too: what followed the period's deployments). Others are ignored.
   */
  deployments: DeploymentFacts[];
  /**
   * For releases those deployments placed, the first succeeded deployment of each into its
   * service's production, wherever in time it was (it says whether the period's was the first).
   */
  firstInProduction: DeploymentFacts[];
  /** The commits of the releases of `firstInProduction`. */
  commits: CommitFacts[];
  /** The runs of the services in scope created in the period, with their stages. */
  runs: Array<{ run: RunFacts; stages: StageFacts[] }>;
}

/** Everything GET /api/metrics answers. */
export function deliveryMetrics(input: MetricsInput): MetricsReport {
  const period = { from: Date.parse(input.from), to: Date.parse(input.to) };
  const services = [...input.production].sort((a, b) => a.service.localeCompare(b.service));
  const deployments = byTarget(input.deployments);
  const firsts = byTarget(input.firstInProduction);
  const commits = new Map(input.commits.map((commit) => [commit.releaseId, commit]));
  const perService = services.map(({ service, environment }): ServiceResult => {
    if (environment === null) return { metrics: { service, environment, ...emptyMeasures(period) }, leadSamples: [] };
    const result = measures(period, {
      deployments: deployments.get(target(service, environment)) ?? [],
      firstInProduction: firsts.get(target(service, environment)) ?? [],
      commits,
    });
    return { metrics: { service, environment, ...result.measures }, leadSamples: result.leadSamples };
  });
  return {
    from: new Date(period.from).toISOString(),
    to: new Date(period.to).toISOString(),
    service: input.service,
    fleet: fleetMeasures(period, perService),
    services: perService.map((result) => result.metrics),
    trends: runTrends(period, input.runs),
  };
}

export interface Period {
  /** Epoch milliseconds. */
  from: number;
  to: number;
}

/** One service's records in its production environment. */
interface ServiceRecords {
  deployments: DeploymentFacts[];
  firstInProduction: DeploymentFacts[];
  /** By release id. */
  commits: Map<number, CommitFacts>;
}

function target(service: string, environment: string): string {
  return `${service}\u0000${environment}`;
}

function byTarget(deployments: DeploymentFacts[]): Map<string, DeploymentFacts[]> {
  const grouped = new Map<string, DeploymentFacts[]>();
  for (const deployment of deployments) {
    const key = target(deployment.service, deployment.environment);
    const list = grouped.get(key);
    if (list) list.push(deployment);
    else grouped.set(key, [deployment]);
  }
  return grouped;
}

/** A service's measures, with its lead time samples: percentiles do not add up, so the fleet's pools the samples. */
interface ServiceResult {
  metrics: ServiceMetrics;
  leadSamples: number[];
}

/** A service's four measures over one production environment's records. */
function measures(period: Period, records: ServiceRecords): { measures: DeliveryMeasures; leadSamples: number[] } {
  const history = records.deployments.filter(isFinished).sort((a, b) => a.id - b.id);
  const next = nextSucceededOf(history);
  const inPeriod = history.filter((deployment) => within(period, deployment.finishedAt));
  const changes = inPeriod.filter(isChange);
  const failures = changes.map((deployment) => ({ deployment, cause: failureCause(deployment, next.get(deployment.id)) })).filter((entry) => entry.cause !== null);
  const leadSamples = leadTimes(period, records);
  return {
    measures: {
      deploymentFrequency: deploymentFrequency(
        period,
        changes.filter((deployment) => deployment.status === 'succeeded').map((deployment) => deployment.finishedAt),
      ),
      leadTime: stats(leadSamples),
      changeFailureRate: changeFailureRate(
        changes.length,
        failures.map((entry) => entry.cause!),
      ),
      timeToRestore: timeToRestore(failures.map((entry) => restoreOf(entry.deployment, next.get(entry.deployment.id)))),
    },
    leadSamples,
  };
}

type FinishedDeployment = DeploymentFacts & { finishedAt: string };
type FailureCause = 'failed' | 'rolledBack' | 'revertedByRollback';

function isFinished(deployment: DeploymentFacts): deployment is FinishedDeployment {
  return deployment.finishedAt !== null && deployment.status !== 'in_progress';
}

/**
 * A change reaching production: a run's deploy or a promotion. A rollback places a release that
 * served before, so it is no change: it is not counted as a deployment, nor as a failure, and
 * it may restore service.
 */
function isChange(deployment: DeploymentFacts): boolean {
  switch (deployment.kind) {
    case 'deploy':
    case 'promote':
      return true;
    case 'rollback':
      return false;
    default:
      return assertNever(deployment.kind, 'deployment kind');
  }
}

/**
 * Why a change counts as a failure, or null: it failed; it went live and Slipway rolled it back
 * by itself (rolled_back); or it succeeded and the next deployment to succeed in that service and
 * environment after it was a rollback, which replaced it.
 */
function failureCause(deployment: FinishedDeployment, nextSucceeded: FinishedDeployment | undefined): FailureCause | null {
  switch (deployment.status) {
    case 'failed':
      return 'failed';
    case 'rolled_back':
      return 'rolledBack';
    case 'succeeded':
      return nextSucceeded?.kind === 'rollback' ? 'revertedByRollback' : null;
    case 'in_progress':
      return null;
    default:
      return assertNever(deployment.status, 'deployment status');
  }
}

/** For each deployment of one history (one service, one environment; by id), the first succeeded one placed after it. */
function nextSucceededOf(history: FinishedDeployment[]): Map<number, FinishedDeployment | undefined> {
  const next = new Map<number, FinishedDeployment | undefined>();
  let following: FinishedDeployment | undefined;
  for (let index = history.length - 1; index >= 0; index--) {
    const deployment = history[index]!;
    next.set(deployment.id, following);
    if (deployment.status === 'succeeded') following = deployment;
  }
  return next;
}

/** Deployment frequency: succeeded changes (deploys and promotions) into production that finished in the period. */
function deploymentFrequency(period: Period, finishedAt: string[]): DeploymentFrequency {
  const days = periodDays(period);
  const counts = new Map(days.map((day) => [day, 0]));
  for (const at of finishedAt) counts.set(dayOf(at), (counts.get(dayOf(at)) ?? 0) + 1);
  const lengthDays = (period.to - period.from) / DAY_MS;
  const perDay = lengthDays > 0 ? finishedAt.length / lengthDays : null;
  return { total: finishedAt.length, perDay, perWeek: perDay === null ? null : perDay * 7, days: days.map((day) => ({ day, count: counts.get(day)! })) };
}

/**
 * Lead time for changes: for each release whose first succeeded deployment into production
 * finished in the period, from its commit to that deployment's end. The commit's time is the
 * committer date its run read (Run.committedAt); a run from before Slipway read it (null) counts
 * from the run's creation instead. A release seen in production before the period gives no
 * sample, however often it is placed again.
 */
function leadTimes(period: Period, records: ServiceRecords): number[] {
  const firsts = new Map<number, FinishedDeployment>();
  for (const deployment of records.firstInProduction) {
    if (!isFinished(deployment) || deployment.status !== 'succeeded') continue;
    const known = firsts.get(deployment.releaseId);
    if (!known || deployment.id < known.id) firsts.set(deployment.releaseId, deployment);
  }
  const samples: number[] = [];
  for (const first of firsts.values()) {
    if (!within(period, first.finishedAt)) continue;
    const commit = records.commits.get(first.releaseId);
    if (!commit) continue;
    samples.push(duration(commit.committedAt ?? commit.runCreatedAt, first.finishedAt));
  }
  return samples;
}

function changeFailureRate(deployments: number, causes: FailureCause[]): ChangeFailureRate {
  const count = (cause: FailureCause) => causes.filter((candidate) => candidate === cause).length;
  return {
    deployments,
    failures: causes.length,
    rate: deployments > 0 ? causes.length / deployments : null,
    failed: count('failed'),
    rolledBack: count('rolledBack'),
    revertedByRollback: count('revertedByRollback'),
  };
}

/**
 * Time to restore: for each failure the change failure rate counts, from when it finished to
 * when the next succeeded deployment of that service into production finished (a rollback, a
 * fix, a promotion: whatever served healthy next; for a change a rollback replaced, that
 * rollback). Failures in a row each give a sample, each up to the same restoring deployment.
 * A failure nothing succeeded after yet is `open`.
 */
function restoreOf(failure: FinishedDeployment, restoredBy: FinishedDeployment | undefined): RestoreSample | FinishedDeployment {
  if (!restoredBy) return failure;
  return {
    service: failure.service,
    environment: failure.environment,
    deploymentId: failure.id,
    restoredBy: restoredBy.id,
    failedAt: failure.finishedAt,
    restoredAt: restoredBy.finishedAt,
    durationMs: duration(failure.finishedAt, restoredBy.finishedAt),
  };
}

function timeToRestore(outcomes: Array<RestoreSample | FinishedDeployment>): TimeToRestore {
  const samples = outcomes.filter((outcome): outcome is RestoreSample => 'restoredBy' in outcome);
  samples.sort((a, b) => Date.parse(a.failedAt) - Date.parse(b.failedAt) || a.deploymentId - b.deploymentId);
  return { ...stats(samples.map((sample) => sample.durationMs)), samples, open: outcomes.length - samples.length };
}

/** The fleet: every service's deployments and failures added up, every sample pooled. */
function fleetMeasures(period: Period, results: ServiceResult[]): DeliveryMeasures {
  const services = results.map((result) => result.metrics);
  const sum = (read: (service: ServiceMetrics) => number) => services.reduce((total, service) => total + read(service), 0);
  const total = sum((service) => service.deploymentFrequency.total);
  const lengthDays = (period.to - period.from) / DAY_MS;
  const perDay = lengthDays > 0 ? total / lengthDays : null;
  const deployments = sum((service) => service.changeFailureRate.deployments);
  const failures = sum((service) => service.changeFailureRate.failures);
  const samples = services.flatMap((service) => service.timeToRestore.samples);
  samples.sort((a, b) => Date.parse(a.failedAt) - Date.parse(b.failedAt) || a.deploymentId - b.deploymentId);
  return {
    deploymentFrequency: {
      total,
      perDay,
      perWeek: perDay === null ? null : perDay * 7,
      days: periodDays(period).map((day, index) => ({ day, count: sum((service) => service.deploymentFrequency.days[index]?.count ?? 0) })),
    },
    leadTime: stats(results.flatMap((result) => result.leadSamples)),
    changeFailureRate: {
      deployments,
      failures,
      rate: deployments > 0 ? failures / deployments : null,
      failed: sum((service) => service.changeFailureRate.failed),
      rolledBack: sum((service) => service.changeFailureRate.rolledBack),
      revertedByRollback: sum((service) => service.changeFailureRate.revertedByRollback),
    },
    timeToRestore: { ...stats(samples.map((sample) => sample.durationMs)), samples, open: sum((service) => service.timeToRestore.open) },
  };
}

function emptyMeasures(period: Period): DeliveryMeasures {
  return {
    deploymentFrequency: deploymentFrequency(period, []),
    leadTime: stats([]),
    changeFailureRate: changeFailureRate(0, []),
    timeToRestore: timeToRestore([]),
  };
}

/**
 * The trends of the runs created in the period, by the UTC day each was created: run duration
 * (finishedAt - startedAt of runs that ended succeeded or failed: cancelled, rejected and
 * expired runs were cut short), queue wait (startedAt - createdAt of runs that started), and per
 * stage name the duration of stages that ended succeeded or failed, in pipeline order.
 */
function runTrends(period: Period, runs: MetricsInput['runs']): RunTrends {
  const days = periodDays(period);
  const durations = new Map<string, number[]>(days.map((day) => [day, []]));
  const waits = new Map<string, number[]>(days.map((day) => [day, []]));
  const stages = new Map<string, { position: number; samples: number[] }>();
  for (const { run, stages: runStages } of runs) {
    if (!within(period, run.createdAt)) continue;
    const day = dayOf(run.createdAt);
    if (run.startedAt !== null) waits.get(day)?.push(duration(run.createdAt, run.startedAt));
    if (ranToVerdict(run.status) && run.startedAt !== null && run.finishedAt !== null) durations.get(day)?.push(duration(run.startedAt, run.finishedAt));
    for (const stage of runStages) {
      if (!ranToVerdict(stage.status) || stage.startedAt === null || stage.finishedAt === null) continue;
      const entry = stages.get(stage.name) ?? { position: stage.position, samples: [] };
      // A promotion's or rollback's run holds fewer stages, each earlier than in a whole run: the
      // furthest position a name reached is its place in the pipeline.
      entry.position = Math.max(entry.position, stage.position);
      entry.samples.push(duration(stage.startedAt, stage.finishedAt));
      stages.set(stage.name, entry);
    }
  }
  const series = (samples: Map<string, number[]>): DayDurations[] => days.map((day) => ({ day, ...stats(samples.get(day)!) }));
  const stageDuration: StageDurations[] = [...stages.entries()]
    .sort(([nameA, a], [nameB, b]) => a.position - b.position || nameA.localeCompare(nameB))
    .map(([stage, { samples }]) => ({ stage, ...stats(samples) }));
  return { runDuration: series(durations), queueWait: series(waits), stageDuration };
}

function ranToVerdict(status: string): boolean {
  return status === 'succeeded' || status === 'failed';
}

/** Count, nearest-rank median and 90th percentile; null without samples. */
export function stats(samples: number[]): DurationStats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, medianMs: percentile(sorted, 50), p90Ms: percentile(sorted, 90) };
}

/** Nearest-rank: the sample at rank ceil(p/100 * n) of the sorted samples, from 1; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Every UTC day [from, to) touches, oldest first: "2026-03-01". */
export function periodDays(period: Period): string[] {
  const days: string[] = [];
  const start = new Date(period.from);
  for (let at = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()); at < period.to; at += DAY_MS) {
    days.push(new Date(at).toISOString().slice(0, 10));
  }
  return days;
}

function dayOf(iso: string): string {
  return new Date(iso).toISOString().slice(0, 10);
}

function within(period: Period, iso: string | null): iso is string {
  if (iso === null) return false;
  const at = Date.parse(iso);
  return at >= period.from && at < period.to;
}

function duration(from: string, to: string): number {
  return Math.max(0, Date.parse(to) - Date.parse(from));
}
