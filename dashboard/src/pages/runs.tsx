// Runs: the whole history, newest first, a page at a time (a cursor, so page 200 of 10,000 runs
// costs what page 1 does), filtered by service and status.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import { RUN_STATUSES, type RunStatus } from '../../../src/core/types.ts';
import { RunTable } from '../components/run-table.tsx';
import { useSession } from '../session.tsx';
import { ErrorNote, Loading } from '../ui.tsx';

const PAGE_SIZE = 50;

export function RunsPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const service = params.get('service') ?? '';
  const status = (RUN_STATUSES as readonly string[]).includes(params.get('status') ?? '') ? (params.get('status') as RunStatus) : null;
  const before = Number(params.get('before')) || undefined;
  const runs = useQuery({
    queryKey: ['runs', { service, status, before }],
    queryFn: () => client.runs({ service: service || undefined, status: status ? [status] : undefined, before, limit: PAGE_SIZE }),
    placeholderData: keepPreviousData,
  });
  // The service names come with the fleet, a larger answer: asked once the runs are on screen.
  const services = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet(), enabled: runs.isSuccess });

  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    setParams(next);
  };
  const oldest = runs.data?.at(-1)?.id;

  return (
    <section aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Runs</h1>
        <div className="filters">
          <label>
            <span className="visually-hidden">Service</span>
            <select value={service} onChange={(event) => set({ service: event.target.value, before: null })}>
              <option value="">every service</option>
              {services.data?.services.map(({ name }) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span className="visually-hidden">Status</span>
            <select value={status ?? ''} onChange={(event) => set({ status: event.target.value, before: null })}>
              <option value="">any status</option>
              {RUN_STATUSES.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <ErrorNote error={runs.error} />
      {!runs.data ? (
        <Loading what="runs" />
      ) : runs.data.length === 0 ? (
        <p className="muted">No runs{service || status ? ' match' : ' yet'}.</p>
      ) : (
        <RunTable runs={runs.data} showService testId="runs" />
      )}
      <nav className="pager" aria-label="Pages of runs">
        {before !== undefined && <button onClick={() => set({ before: null })}>Newest</button>}
        {runs.data && runs.data.length === PAGE_SIZE && oldest !== undefined && <button onClick={() => set({ before: String(oldest) })}>Older</button>}
      </nav>
    </section>
  );
}
