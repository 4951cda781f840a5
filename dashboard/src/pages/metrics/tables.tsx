// The Metrics page's tables: the measures by service, and each failure with what restored it.

import { Link, useSearchParams } from 'react-router';
import type { MetricsReport, RestoreSample, ServiceMetrics } from '../../../../src/client/metrics-api.ts';
import { clockTime } from '../../../../src/core/words.ts';
import { frequencyText, msText, percent, plural } from './format.ts';
import { DEFAULT_DAYS } from './period.ts';

export function ServicesTable({ report, days }: { report: MetricsReport; days: number }) {
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

export function Restores({ samples, open }: { samples: RestoreSample[]; open: number }) {
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
