// Metrics: DORA's four delivery measures for the fleet and per service over a chosen period, each
// with its definition (docs/metrics.md), and the trends of runs drawn as charts. The charts
// (recharts) load with this page only: the other pages never fetch them.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { lazy, Suspense, type ReactNode } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { DayDurations, DeliveryMeasures, MetricsReport, RestoreSample, ServiceMetrics, StageDurations } from '../../../src/client/metrics-api.ts';
import { clockTime } from '../../../src/core/words.ts';
import { useSession } from '../session.tsx';
import { ErrorNote, Loading } from '../ui.tsx';
import './metrics.css';

const DeploymentsChart = lazy(() => import('./metrics-charts.tsx').then((charts) => ({ default: charts.DeploymentsChart })));
const DurationTrendChart = lazy(() => import('./metrics-charts.tsx').then((charts) => ({ default: charts.DurationTrendChart })));
const StageChart = lazy(() => import('./metrics-charts.tsx').then((charts) => ({ default: charts.StageChart })));

const PERIODS = [7, 30, 90, 365] as const;
const DEFAULT_DAYS = 30;
const DAY_MS = 86_400_000;

/** A duration in words: "420ms", "4.2s", "3m 12s", "2.4h", "3.5d"; "—" without one. */
export function msText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms === 0) return '0';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(ms < 10_000 ? 1 : 0))}s`;
  if (ms < 3_600_000) {
    const seconds = Math.round(ms / 1000);
    return seconds % 60 === 0 ? `${seconds / 60}m` : `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  }
  if (ms < 48 * 3_600_000) return `${trim((ms / 3_600_000).toFixed(1))}h`;
  return `${trim((ms / DAY_MS).toFixed(1))}d`;
}

const trim = (number: string) => number.replace(/\.0$/, '');

/** "Mar 3" for a UTC day "2026-03-03". */
export function dayText(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

/** The period: whole UTC days, today (so far) the last of them. */
function periodOf(days: number): { from: string; to: string } {
  const now = Date.now();
  const today = now - (now % DAY_MS);
  return { from: new Date(today - (days - 1) * DAY_MS).toISOString(), to: new Date(now).toISOString() };
}

export function MetricsPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const days = (PERIODS as readonly number[]).includes(Number(params.get('days'))) ? Number(params.get('days')) : DEFAULT_DAYS;
  const service = params.get('service') ?? '';
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  const metrics = useQuery({
    queryKey: ['metrics', { days, service }],
    queryFn: () => client.metrics({ ...periodOf(days), service: service || undefined }),
    placeholderData: keepPreviousData,
    // The period ends now: each visit reads it again (the live stream does not cover it).
    refetchOnMount: 'always',
  });

  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    setParams(next);
  };
  const serviceNames = fleet.data?.services.map(({ name }) => name) ?? [];
  if (service && !serviceNames.includes(service)) serviceNames.push(service);
  const report = metrics.data;

  return (
    <section aria-labelledby="metrics-title" className="metrics-page">
      <div className="page-head">
        <h1 id="metrics-title">Metrics</h1>
        <div className="filters">
          <div className="segmented" role="group" aria-label="Period">
            {PERIODS.map((period) => (
              <button key={period} aria-pressed={days === period} onClick={() => set({ days: period === DEFAULT_DAYS ? null : String(period) })}>
                {period === 365 ? '1 year' : `${period} days`}
              </button>
            ))}
          </div>
          <label>
            <span className="visually-hidden">Service</span>
            <select value={service} onChange={(event) => set({ service: event.target.value })}>
              <option value="">every service</option>
              {serviceNames.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <ErrorNote error={metrics.error} />
      {!report ? (
        !metrics.error && <Loading what="the metrics" />
      ) : (
        <div aria-busy={metrics.isFetching} className={metrics.isPlaceholderData ? 'metrics-stale' : undefined}>
          <Scope report={report} days={days} />
          <Measures measures={report.fleet} production={productionOf(report)} />
          {!report.service && report.services.length > 1 && <ServicesTable report={report} days={days} />}
          <Restores samples={report.fleet.timeToRestore.samples} open={report.fleet.timeToRestore.open} />
          <Trends report={report} />
          <p className="muted small">
            Days are UTC days. Medians and 90th percentiles are nearest-rank: each is a real sample (of an even count, the median is the lower middle one). What followed a
            deployment counts whenever it happened, so a recent period may still change.
          </p>
        </div>
      )}
    </section>
  );
}

/** Production: the last environment of each service's chain; null when none deploys anywhere. */
function productionOf(report: MetricsReport): string | null {
  const environments = [...new Set(report.services.flatMap((service) => (service.environment ? [service.environment] : [])))];
  return environments.length === 0 ? null : environments.join(', ');
}

function Scope({ report, days }: { report: MetricsReport; days: number }) {
  const production = productionOf(report);
  const last = new Date(Date.parse(report.to) - 1).toISOString();
  return (
    <p className="metrics-scope">
      {report.service ? (
        <>
          <Link to={`/services/${encodeURIComponent(report.service)}`}>{report.service}</Link>
        </>
      ) : (
        <>Every service ({report.services.length})</>
      )}
      , the last {days} days: <time dateTime={report.from}>{clockTime(report.from).slice(0, 10)}</time> to <time dateTime={report.to}>{clockTime(last).slice(0, 10)}</time>
      {'. '}
      {production ? (
        <span className="muted">Production is each service's last environment: {production}.</span>
      ) : (
        <span className="muted">{report.service ?? 'No service'} deploys nowhere: there is no production to measure.</span>
      )}
    </p>
  );
}

function Measures({ measures, production }: { measures: DeliveryMeasures; production: string | null }) {
  const { deploymentFrequency: frequency, leadTime, changeFailureRate: failures, timeToRestore: restore } = measures;
  const none = production === null ? 'nothing deploys to a production environment' : 'no production deployment in this period';
  return (
    <div className="measures" data-testid="measures">
      <Measure
        title="Deployment frequency"
        value={frequencyText(frequency.perDay, frequency.perWeek)}
        reason={frequency.perDay === null ? 'the period is empty' : null}
        detail={frequency.total === 0 ? none : `${frequency.total} ${plural(frequency.total, 'deployment')} to production`}
      >
        How often a change reaches production: deploys and promotions into production (each service's last environment) that succeeded and finished in the period.
        Rollbacks bring no change and do not count.
      </Measure>
      <Measure
        title="Lead time for changes"
        value={leadTime.medianMs === null ? null : `${msText(leadTime.medianMs)} median`}
        reason={production === null ? none : 'no release reached production for the first time in this period'}
        detail={leadTime.count > 0 ? `90th percentile ${msText(leadTime.p90Ms)} · ${leadTime.count} ${plural(leadTime.count, 'release')}` : null}
      >
        From a commit (its committer date) to the end of the production deployment that first put its release in production, for releases that first reached production in the
        period.
      </Measure>
      <Measure
        title="Change failure rate"
        value={failures.rate === null ? null : percent(failures.rate)}
        reason={none}
        detail={
          failures.rate === null ? null : (
            <>
              {failures.failures} of {failures.deployments} {plural(failures.deployments, 'deployment')}
              {failures.failures > 0 && (
                <>
                  : {[
                    failures.failed && `${failures.failed} failed`,
                    failures.rolledBack && `${failures.rolledBack} rolled back by Slipway`,
                    failures.revertedByRollback && `${failures.revertedByRollback} replaced by a rollback`,
                  ]
                    .filter(Boolean)
                    .join(', ')}
                </>
              )}
            </>
          )
        }
      >
        Of the deploys and promotions into production that finished in the period, the share that failed, that Slipway rolled back (a failed bake or smoke test), or that a
        person's rollback later replaced.
      </Measure>
      <Measure
        title="Time to restore"
        value={restore.medianMs === null ? null : `${msText(restore.medianMs)} median`}
        reason={
          restore.open > 0
            ? `nothing has restored the ${restore.open} ${plural(restore.open, 'failure')} yet`
            : failures.deployments > 0
              ? 'no failed production deployment in this period'
              : none
        }
        detail={
          restore.count > 0 || restore.open > 0 ? (
            <>
              {restore.count > 0 && `90th percentile ${msText(restore.p90Ms)} · ${restore.count} ${plural(restore.count, 'failure')} restored`}
              {restore.open > 0 && (
                <span className="metrics-open">
                  {restore.count > 0 && ' · '}
                  {restore.open} not restored yet
                </span>
              )}
            </>
          ) : null
        }
      >
        From each failure the failure rate counts to the next succeeded production deployment of that service: a rollback, a fix or a promotion.
      </Measure>
    </div>
  );
}

function Measure(props: { title: string; value: string | null; reason: string | null; detail: ReactNode; children: ReactNode }) {
  const id = `measure-${props.title.toLowerCase().replace(/\W+/g, '-')}`;
  return (
    <article className="card measure" aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      <p className="measure-value">
        {props.value ?? (
          <>
            <span aria-hidden="true">—</span> <span className="measure-reason muted">{props.reason}</span>
          </>
        )}
      </p>
      {props.detail && <p className="small">{props.detail}</p>}
      <p className="measure-definition muted small">{props.children}</p>
    </article>
  );
}

function frequencyText(perDay: number | null, perWeek: number | null): string | null {
  if (perDay === null || perWeek === null) return null;
  if (perDay >= 1) return `${trim(perDay.toFixed(1))} a day`;
  if (perWeek >= 0.1 || perWeek === 0) return `${trim(perWeek.toFixed(1))} a week`;
  return `${trim((perDay * 30).toFixed(1))} a month`;
}

function percent(rate: number): string {
  const value = rate * 100;
  return `${value > 0 && value < 10 ? trim(value.toFixed(1)) : Math.round(value)}%`;
}

function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}

function ServicesTable({ report, days }: { report: MetricsReport; days: number }) {
  const [, setParams] = useSearchParams();
  return (
    <>
      <h2>By service</h2>
      <div className="table-scroll">
        <table className="metrics-services" data-testid="metrics-services">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Production</th>
              <th scope="col">Deployments</th>
              <th scope="col">Lead time (median)</th>
              <th scope="col">Change failure rate</th>
              <th scope="col">Time to restore (median)</th>
            </tr>
          </thead>
          <tbody>
            {report.services.map((service) => (
              <ServiceRow key={service.service} service={service} onSelect={() => setParams(days === DEFAULT_DAYS ? { service: service.service } : { days: String(days), service: service.service })} />
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function ServiceRow({ service, onSelect }: { service: ServiceMetrics; onSelect: () => void }) {
  const frequency = service.deploymentFrequency;
  const failures = service.changeFailureRate;
  const restore = service.timeToRestore;
  if (service.environment === null) {
    return (
      <tr>
        <th scope="row">
          <Link to={`/services/${encodeURIComponent(service.service)}`}>{service.service}</Link>
        </th>
        <td colSpan={5} className="muted">
          deploys nowhere: no production to measure
        </td>
      </tr>
    );
  }
  return (
    <tr>
      <th scope="row">
        <button className="link-button" onClick={onSelect} title={`Only ${service.service}'s metrics`}>
          {service.service}
        </button>
      </th>
      <td>{service.environment}</td>
      <td>
        {frequency.total} <span className="muted small">{frequencyText(frequency.perDay, frequency.perWeek)}</span>
      </td>
      <td>{leadOrDash(service.leadTime.medianMs, 'no release reached production for the first time in this period')}</td>
      <td>
        {failures.rate === null ? (
          <Dash reason="no production deployment in this period" />
        ) : (
          <>
            {percent(failures.rate)}{' '}
            <span className="muted small">
              {failures.failures} of {failures.deployments}
            </span>
          </>
        )}
      </td>
      <td>
        {restore.medianMs === null ? (
          <Dash reason={restore.open > 0 ? `${restore.open} not restored yet` : 'no failure in this period'} />
        ) : (
          <>
            {msText(restore.medianMs)}
            {restore.open > 0 && <span className="muted small"> · {restore.open} open</span>}
          </>
        )}
      </td>
    </tr>
  );
}

function leadOrDash(ms: number | null, reason: string) {
  return ms === null ? <Dash reason={reason} /> : msText(ms);
}

/** A missing number: a dash, and why, in words. */
function Dash({ reason }: { reason: string }) {
  return (
    <span>
      <span aria-hidden="true">—</span> <span className="muted small">{reason}</span>
    </span>
  );
}

function Restores({ samples, open }: { samples: RestoreSample[]; open: number }) {
  if (samples.length === 0 && open === 0) return null;
  return (
    <>
      <h2>Failures and restores</h2>
      {samples.length > 0 && (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Environment</th>
                <th scope="col">Failed</th>
                <th scope="col">Restored by</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {samples.map((sample) => (
                <tr key={`${sample.deploymentId}-${sample.restoredBy}`}>
                  <td>
                    <Link to={`/services/${encodeURIComponent(sample.service)}`}>{sample.service}</Link>
                  </td>
                  <td>{sample.environment}</td>
                  <td>
                    deployment #{sample.deploymentId} <span className="muted small">{clockTime(sample.failedAt)}</span>
                  </td>
                  <td>
                    deployment #{sample.restoredBy} <span className="muted small">{clockTime(sample.restoredAt)}</span>
                  </td>
                  <td>{msText(sample.durationMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open > 0 && (
        <p className="metrics-open">
          {open} failed production {plural(open, 'deployment')} of this period {open === 1 ? 'has' : 'have'} not been followed by a succeeded one yet.
        </p>
      )}
    </>
  );
}

function Trends({ report }: { report: MetricsReport }) {
  const { runDuration, queueWait, stageDuration } = report.trends;
  const deployments = report.fleet.deploymentFrequency.days;
  return (
    <>
      <h2>Trends</h2>
      <div className="charts">
        <Chart
          title="Deployments per day"
          definition="Succeeded deploys and promotions into production, by the UTC day they finished."
          empty={deployments.every((day) => day.count === 0) ? 'No production deployment in this period.' : null}
          chart={<DeploymentsChart days={deployments} />}
          table={<CountTable days={deployments} />}
        />
        <Chart
          title="Run duration"
          definition="Start to finish of runs that succeeded or failed (a wait at a gate counts), by the UTC day they were created: median and 90th percentile."
          empty={runDuration.every((day) => day.count === 0) ? 'No run finished in this period.' : null}
          chart={<DurationTrendChart days={runDuration} label="Run duration" />}
          table={<DurationTable rows={runDuration} />}
        />
        <Chart
          title="Queue wait"
          definition="From a run's creation to its start: how long it waited for its lane or a runner. By the UTC day runs were created: median and 90th percentile."
          empty={queueWait.every((day) => day.count === 0) ? 'No run started in this period.' : null}
          chart={<DurationTrendChart days={queueWait} label="Queue wait" />}
          table={<DurationTable rows={queueWait} />}
        />
        <Chart
          title="Stage duration"
          definition="Start to finish of stages that succeeded or failed, per stage, in pipeline order: median and 90th percentile."
          empty={stageDuration.length === 0 ? 'No stage finished in this period.' : null}
          chart={<StageChart stages={stageDuration} />}
          table={<StageTable stages={stageDuration} />}
        />
      </div>
    </>
  );
}

function Chart(props: { title: string; definition: string; empty: string | null; chart: ReactNode; table: ReactNode }) {
  const id = `chart-${props.title.toLowerCase().replace(/\W+/g, '-')}`;
  return (
    <figure className="card chart" aria-labelledby={id}>
      <h3 id={id}>{props.title}</h3>
      <p className="muted small chart-definition">{props.definition}</p>
      {props.empty ? (
        <p className="chart-empty muted">{props.empty}</p>
      ) : (
        <>
          <Suspense fallback={<div className="chart-area" aria-busy="true" />}>{props.chart}</Suspense>
          <details className="chart-numbers">
            <summary>The numbers</summary>
            <div className="table-scroll">{props.table}</div>
          </details>
        </>
      )}
    </figure>
  );
}

function CountTable({ days }: { days: Array<{ day: string; count: number }> }) {
  return (
    <table className="small">
      <thead>
        <tr>
          <th scope="col">Day</th>
          <th scope="col">Deployments</th>
        </tr>
      </thead>
      <tbody>
        {days
          .filter((day) => day.count > 0)
          .map((day) => (
            <tr key={day.day}>
              <td>{day.day}</td>
              <td>{day.count}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

function DurationTable({ rows }: { rows: DayDurations[] }) {
  return (
    <table className="small">
      <thead>
        <tr>
          <th scope="col">Day</th>
          <th scope="col">Runs</th>
          <th scope="col">Median</th>
          <th scope="col">90th percentile</th>
        </tr>
      </thead>
      <tbody>
        {rows
          .filter((row) => row.count > 0)
          .map((row) => (
            <tr key={row.day}>
              <td>{row.day}</td>
              <td>{row.count}</td>
              <td>{msText(row.medianMs)}</td>
              <td>{msText(row.p90Ms)}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

function StageTable({ stages }: { stages: StageDurations[] }) {
  return (
    <table className="small">
      <thead>
        <tr>
          <th scope="col">Stage</th>
          <th scope="col">Samples</th>
          <th scope="col">Median</th>
          <th scope="col">90th percentile</th>
        </tr>
      </thead>
      <tbody>
        {stages.map((stage) => (
          <tr key={stage.stage}>
            <td>
              <code>{stage.stage}</code>
            </td>
            <td>{stage.count}</td>
            <td>{msText(stage.medianMs)}</td>
            <td>{msText(stage.p90Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
