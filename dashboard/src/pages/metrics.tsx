// Metrics: DORA's four delivery measures for the fleet and per service over a chosen period, each
// with its definition (docs/metrics.md), and the trends of runs drawn as charts.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import type { MetricsReport } from '../../../src/client/metrics-api.ts';
import { clockTime } from '../../../src/core/words.ts';
import { useSession } from '../session.tsx';
import { ErrorNote, Loading } from '../ui.tsx';
import { Measures } from './metrics/measures.tsx';
import { DEFAULT_DAYS, PERIODS, periodOf } from './metrics/period.ts';
import { Restores, ServicesTable } from './metrics/tables.tsx';
import { Trends } from './metrics/trends.tsx';
import './metrics.css';

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
