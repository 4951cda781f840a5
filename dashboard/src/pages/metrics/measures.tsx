// DORA's four delivery measures as cards: each number with its definition, or a dash and why
// there is none.

import type { ReactNode } from 'react';
import type { DeliveryMeasures } from '../../../../src/client/metrics-api.ts';
import { frequencyText, msText, percent, plural } from './format.ts';

export function Measures({ measures, production }: { measures: DeliveryMeasures; production: string | null }) {
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
