// The metrics part of the HTTP API's shapes: GET /api/metrics, the delivery measures (DORA's
// four) and the trends of runs over a period, computed from Slipway's own records. The
// definitions are in docs/metrics.md and src/delivery/dora.ts.

/** GET /api/metrics's query: the period [from, to) and, optionally, one service. */
export interface MetricsQuery {
  /** ISO date-time (or a date, read as UTC midnight), inclusive; default: `to` less 30 days. */
  from?: string;
  /** ISO date-time (or a date, read as UTC midnight), exclusive; default: now. At most 366 days after `from`. */
  to?: string;
  /** Only this service; default: every service. */
  service?: string;
}

/**
 * Durations in milliseconds: how many samples, their median and 90th percentile, both
 * nearest-rank (the smallest sample at or above that share of the samples; the median of an even
 * count is the lower of the two middle ones). Null when there is no sample.
 */
export interface DurationStats {
  count: number;
  medianMs: number | null;
  p90Ms: number | null;
}

/** Deployment frequency: succeeded deploys and promotions into production (rollbacks are not counted). */
export interface DeploymentFrequency {
  /** How many finished in the period. */
  total: number;
  /** `total` over the period's length in days (fractional); null for an empty period. */
  perDay: number | null;
  /** `perDay` times 7; null for an empty period. */
  perWeek: number | null;
  /** One entry per UTC day the period touches ("2026-03-01"), oldest first, days without any at 0. */
  days: Array<{ day: string; count: number }>;
}

/**
 * Change failure rate: of the deploys and promotions into production that finished in the
 * period, those that failed, were rolled back by Slipway (bake or smoke test), or were later
 * replaced by a person's rollback.
 */
export interface ChangeFailureRate {
  /** Deploys and promotions into production that finished in the period (succeeded, failed or rolled back). */
  deployments: number;
  /** Of those, how many count as failures: `failed + rolledBack + revertedByRollback`. */
  failures: number;
  /** failures / deployments, from 0 to 1; null without deployments. */
  rate: number | null;
  /** Failed (never served, or failed its rollout). */
  failed: number;
  /** Went live, then Slipway put the previous release back (status rolled_back). */
  rolledBack: number;
  /** Succeeded, then a rollback deployment was the next to serve in its place. */
  revertedByRollback: number;
}

/** One failed production deployment and the one that restored service after it. */
export interface RestoreSample {
  service: string;
  environment: string;
  /** The deployment that counted as a failure. */
  deploymentId: number;
  /** The next succeeded deployment of that service in production (any kind: a rollback, a fix). */
  restoredBy: number;
  /** When the failed deployment finished. */
  failedAt: string;
  /** When the restoring one finished. */
  restoredAt: string;
  durationMs: number;
}

/** Time to restore: from each failure the change failure rate counts to the next succeeded production deployment. */
export interface TimeToRestore extends DurationStats {
  /** Oldest failure first. */
  samples: RestoreSample[];
  /** Failures of the period that no succeeded production deployment has followed yet. */
  open: number;
}

/** DORA's four measures over one period, for one service or the whole fleet. */
export interface DeliveryMeasures {
  deploymentFrequency: DeploymentFrequency;
  /**
   * Lead time for changes: from the commit (its committer date; a run from before Slipway read
   * it falls back to the run's creation) to the end of the production deployment that first put
   * its release in production, for releases first put there in the period.
   */
  leadTime: DurationStats;
  changeFailureRate: ChangeFailureRate;
  timeToRestore: TimeToRestore;
}

export interface ServiceMetrics extends DeliveryMeasures {
  service: string;
  /** Its production: the last environment of its chain; null when it deploys nowhere (its measures are then empty). */
  environment: string | null;
}

/** One UTC day's durations. */
export interface DayDurations extends DurationStats {
  /** "2026-03-01" */
  day: string;
}

/** One stage name's durations, across the runs of the period. */
export interface StageDurations extends DurationStats {
  stage: string;
}

/**
 * How runs created in the period went, by the UTC day they were created (each day the period
 * touches, oldest first; a day without samples has count 0 and null durations).
 */
export interface RunTrends {
  /** finishedAt - startedAt of runs that ended succeeded or failed. */
  runDuration: DayDurations[];
  /** startedAt - createdAt of runs that started. */
  queueWait: DayDurations[];
  /** finishedAt - startedAt of stages that ended succeeded or failed, in pipeline order. */
  stageDuration: StageDurations[];
}

/** GET /api/metrics. */
export interface MetricsReport {
  /** The period [from, to), as ISO date-times. */
  from: string;
  to: string;
  /** The service asked for; null: every service. */
  service: string | null;
  /** The measures over every service in scope together. */
  fleet: DeliveryMeasures;
  /** Each service in scope, by name. */
  services: ServiceMetrics[];
  /** Runs of the services in scope. */
  trends: RunTrends;
}
