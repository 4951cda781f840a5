// The Metrics page's trends: a card per chart, with its definition and its numbers as a table.
// The charts (recharts) load with this page only: the other pages never fetch them.

import { lazy, Suspense, type ReactNode } from 'react';
import type { DayDurations, MetricsReport, StageDurations } from '../../../../src/client/metrics-api.ts';
import { msText } from './format.ts';

const DeploymentsChart = lazy(() => import('../metrics-charts.tsx').then((charts) => ({ default: charts.DeploymentsChart })));
const DurationTrendChart = lazy(() => import('../metrics-charts.tsx').then((charts) => ({ default: charts.DurationTrendChart })));
const StageChart = lazy(() => import('../metrics-charts.tsx').then((charts) => ({ default: charts.StageChart })));

export function Trends({ report }: { report: MetricsReport }) {
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
