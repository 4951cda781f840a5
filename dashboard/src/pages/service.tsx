// Service: where each release serves with a rollback per environment, recent runs, releases,
// previews, and its parameters (secrets by name only).

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type { EnvironmentState, ServiceOverview } from '../../../src/client/api.ts';
import type { ReleasePlacement } from '../../../src/client/delivery-api.ts';
import { RunTable } from '../components/run-table.tsx';
import { useSession } from '../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading, shortSha, Status } from '../ui.tsx';

export function ServicePage() {
  const name = useParams().name!;
  const { client, can } = useSession();
  const navigate = useNavigate();
  const service = useQuery({ queryKey: ['service', name], queryFn: () => client.service(name) });
  const releases = useQuery({ queryKey: ['releases', name], queryFn: () => client.serviceReleases(name, { limit: 30 }) });
  const [error, setError] = useState<unknown>(null);

  if (service.error) return <ErrorNote error={service.error} />;
  if (!service.data) return <Loading what={name} />;
  const overview = service.data;

  async function runNow() {
    setError(null);
    try {
      const started = await client.startRun({ service: name });
      void navigate(`/runs/${started.id}`);
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section aria-labelledby="service-title" className="service-page">
      <div className="page-head">
        <h1 id="service-title">{overview.name}</h1>
        {can('developer') && (
          <div className="actions">
            <button className="primary" onClick={() => void runNow()}>
              Run {overview.branch}
            </button>
          </div>
        )}
      </div>
      <p className="muted">
        {overview.repo} · {overview.branch}
      </p>
      <ErrorNote error={error} />

      <h2>Environments</h2>
      <div className="environments">
        {overview.environments.map((environment) => (
          <EnvironmentCard key={environment.environment} service={overview} state={environment} placements={releases.data ?? []} />
        ))}
      </div>

      <h2>Recent runs</h2>
      <RecentRuns service={name} />

      <h2>Releases</h2>
      <ErrorNote error={releases.error} />
      {releases.data && releases.data.length === 0 && <p className="muted">No release yet.</p>}
      {releases.data && releases.data.length > 0 && (
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Release</th>
                <th scope="col">Commit</th>
                <th scope="col">Digest</th>
                <th scope="col">Built</th>
                <th scope="col">Serves in</th>
              </tr>
            </thead>
            <tbody>
              {releases.data.map(({ release, serving, servedBefore }) => (
                <tr key={release.id}>
                  <td>
                    <Link to={`/runs/${release.runId}`}>#{release.id}</Link>
                    {release.tag && <span className="badge">{release.tag}</span>}
                  </td>
                  <td>
                    <code>{shortSha(release.commitSha)}</code> <span className="muted">{release.lane}</span>
                  </td>
                  <td>
                    <code title={release.digest}>{release.digest.slice(7, 19)}</code>
                  </td>
                  <td>
                    <Ago at={release.createdAt} />
                  </td>
                  <td>
                    {serving.map((environment) => (
                      <span key={environment} className="badge badge-serving">
                        {environment}
                      </span>
                    ))}
                    {servedBefore.length > 0 && <span className="muted small"> served in {servedBefore.map((before) => before.environment).join(', ')}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Previews</h2>
      <Previews service={name} />

      <h2>Parameters</h2>
      <Parameters service={overview} />
    </section>
  );
}

function EnvironmentCard({ service, state, placements }: { service: ServiceOverview; state: EnvironmentState; placements: ReleasePlacement[] }) {
  const { client, can } = useSession();
  const queries = useQueryClient();
  const [rollingBack, setRollingBack] = useState(false);
  // Releases that served here before, newest first: what a rollback may go back to.
  const earlier = placements
    .filter((placement) => placement.release.id !== state.release?.id && placement.servedBefore.some((before) => before.environment === state.environment))
    .sort((a, b) => b.release.id - a.release.id);
  const [target, setTarget] = useState<number | null>(null);
  const chosen = earlier.find((placement) => placement.release.id === target) ?? earlier[0];
  const address = state.address?.url ?? state.current?.url ?? null;

  return (
    <article className="card" aria-labelledby={`env-${state.environment}`} data-environment={state.environment}>
      <h3 id={`env-${state.environment}`}>{state.environment}</h3>
      {state.release && state.current ? (
        <>
          <p>
            Release <strong>#{state.release.id}</strong> since <Ago at={state.current.finishedAt} /> <span className="muted">({state.current.kind})</span>
          </p>
          <p>
            <code>{shortSha(state.release.commitSha)}</code> <code className="muted">{state.release.digest.slice(7, 19)}</code>
          </p>
        </>
      ) : (
        <p className="muted">Nothing deployed.</p>
      )}
      {address && (
        <p className="small">
          <a href={address}>{address}</a>
        </p>
      )}
      {state.locks.map((lock) => (
        <p key={`${lock.environment}-${lock.service}`} className="badge badge-lock" title={lock.reason}>
          locked by {lock.actor}: {lock.reason}
        </p>
      ))}
      {state.waiting.map((waiting) => (
        <p key={waiting.runId}>
          <Link to={`/runs/${waiting.runId}`} className="badge badge-waiting">
            run #{waiting.runId} waits: {waiting.wait.detail}
          </Link>
        </p>
      ))}
      {can('deployer') && state.release && (
        <button onClick={() => setRollingBack(true)} disabled={earlier.length === 0} title={earlier.length === 0 ? 'no earlier release served here' : undefined}>
          Roll back
        </button>
      )}
      {rollingBack && chosen && state.release && (
        <ConfirmDialog
          title={`Roll back ${service.name} in ${state.environment}`}
          confirm="Roll back"
          danger
          comment={{ label: 'Why (kept in the audit log)' }}
          onClose={() => setRollingBack(false)}
          onConfirm={async (reason) => {
            await client.rollback(service.name, { environment: state.environment, to: chosen.release.id, reason: reason || undefined });
            await queries.invalidateQueries({ queryKey: ['service', service.name] });
          }}
        >
          <p>
            {state.environment} goes from release <strong>#{state.release.id}</strong> ({shortSha(state.release.commitSha)}) back to release{' '}
            <strong>#{chosen.release.id}</strong> ({shortSha(chosen.release.commitSha)}), health-checked before requests move to it.
          </p>
          {earlier.length > 1 && (
            <label>
              Go back to
              <select value={chosen.release.id} onChange={(event) => setTarget(Number(event.target.value))}>
                {earlier.map((placement) => (
                  <option key={placement.release.id} value={placement.release.id}>
                    #{placement.release.id} {shortSha(placement.release.commitSha)}
                  </option>
                ))}
              </select>
            </label>
          )}
        </ConfirmDialog>
      )}
    </article>
  );
}

function RecentRuns({ service }: { service: string }) {
  const { client } = useSession();
  const runs = useQuery({ queryKey: ['runs', { service }], queryFn: () => client.runs({ service, limit: 15 }) });
  if (runs.error) return <ErrorNote error={runs.error} />;
  if (!runs.data) return <Loading what="runs" />;
  if (runs.data.length === 0) return <p className="muted">No runs yet.</p>;
  return <RunTable runs={runs.data} showService={false} />;
}

function Previews({ service }: { service: string }) {
  const { client } = useSession();
  const previews = useQuery({ queryKey: ['previews', service], queryFn: () => client.previews({ service }) });
  if (previews.error) return <ErrorNote error={previews.error} />;
  if (!previews.data) return <Loading what="previews" />;
  if (previews.data.length === 0) return <p className="muted">No live preview.</p>;
  return (
    <ul className="plain">
      {previews.data.map((preview) => (
        <li key={preview.id}>
          PR #{preview.pullRequest} <Status status={preview.status} /> <code>{shortSha(preview.commitSha)}</code>{' '}
          {preview.url && <a href={preview.url}>{preview.url}</a>} <span className="muted small">expires <Ago at={preview.expiresAt} future /></span>
        </li>
      ))}
    </ul>
  );
}

function Parameters({ service }: { service: ServiceOverview }) {
  const { client } = useSession();
  const secrets = useQuery({ queryKey: ['secrets'], queryFn: () => client.secrets() });
  const environmentSecrets = (secrets.data ?? []).filter((secret) => secret.service === null || secret.service === service.name);
  return (
    <>
      <table className="parameters">
        <tbody>
          {service.parameters.parameters.map((parameter) => (
            <tr key={parameter.name}>
              <th scope="row">{parameter.name}</th>
              <td>
                <code>{parameter.value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Secrets</h3>
      {service.parameters.secrets.length === 0 && environmentSecrets.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="plain">
          {service.parameters.secrets.map((secret) => (
            <li key={`yml-${secret}`}>
              <code>{secret}</code> <span className="muted small">slipway.yml</span>
            </li>
          ))}
          {environmentSecrets.map((secret) => (
            <li key={`${secret.environment}-${secret.service}-${secret.name}`}>
              <code>{secret.name}</code>{' '}
              <span className="muted small">
                {secret.environment}
                {secret.service === null ? ' (every service)' : ''}, changed <Ago at={secret.updatedAt} /> by {secret.updatedBy}
              </span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
