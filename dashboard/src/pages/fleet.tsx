// Fleet: every service (rows) in every environment (columns), what serves where, at a glance.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { useDeferredValue, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router';
import type { FleetCell, FleetService } from '../../../src/client/fleet-api.ts';
import { assertNever } from '../../../src/core/types.ts';
import { useSession } from '../session.tsx';
import { Ago, Commit, ConfirmDialog, ErrorNote, Loading, Status } from '../ui.tsx';

const FILTERS = {
  all: { label: 'All', keep: () => true },
  failing: {
    label: 'Failing',
    keep: (service: FleetService) =>
      service.lastRun?.status === 'failed' || service.cells.some((cell) => cell.health === 'down' || cell.health === 'degraded' || cell.latest?.status === 'failed' || cell.latest?.status === 'rolled_back'),
  },
  waiting: { label: 'Waiting', keep: (service: FleetService) => service.cells.some((cell) => cell.waiting.length > 0) },
  drift: { label: 'Drift', keep: (service: FleetService) => service.cells.some((cell) => cell.drift !== null) },
  deploying: { label: 'Deploying', keep: (service: FleetService) => service.cells.some((cell) => cell.latest?.status === 'in_progress') || service.lastRun?.status === 'running' },
  locked: { label: 'Locked', keep: (service: FleetService) => service.cells.some((cell) => cell.lock !== null) },
} as const satisfies Record<string, { label: string; keep: (service: FleetService) => boolean }>;
type FilterName = keyof typeof FILTERS;

export function FleetPage() {
  const { client } = useSession();
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState<FilterName>('all');
  const deferredSearch = useDeferredValue(search.trim().toLowerCase());

  const shown = useMemo(
    () => (fleet.data?.services ?? []).filter((service) => service.name.toLowerCase().includes(deferredSearch) && FILTERS[filter].keep(service)),
    [fleet.data, deferredSearch, filter],
  );

  return (
    <section aria-labelledby="fleet-title">
      <div className="page-head">
        <h1 id="fleet-title">Fleet</h1>
        <div className="filters" role="search">
          <input type="search" placeholder="Filter services by name" aria-label="Filter services by name" value={search} onChange={(event) => setSearch(event.target.value)} />
          <div className="segmented" role="group" aria-label="Show">
            {(Object.keys(FILTERS) as FilterName[]).map((name) => (
              <button key={name} aria-pressed={filter === name} onClick={() => setFilter(name)}>
                {FILTERS[name].label}
              </button>
            ))}
          </div>
        </div>
      </div>
      <ErrorNote error={fleet.error} />
      {fleet.isPending ? (
        <Loading what="the fleet" />
      ) : fleet.data && fleet.data.services.length === 0 ? (
        <p>No services are configured yet: add them to slipway.yml.</p>
      ) : (
        fleet.data && (
          <>
            <p className="muted small" aria-live="polite">
              {shown.length} of {fleet.data.services.length} services
            </p>
            <FleetTable environments={fleet.data.environments} services={shown} />
          </>
        )
      )}
    </section>
  );
}

/** Rows a screen holds at most, and a row's height before it is measured. */
const OVERSCAN_ROWS = 8;
const ESTIMATED_ROW_PX = 64;

/**
 * Only the rows on screen (and a few either side) are in the page: 200 services by 6
 * environments would otherwise be some 14,000 elements to lay out and paint. Spacer rows keep the
 * table as tall as all of them, and each row is measured once shown.
 */
function FleetTable({ environments, services }: { environments: string[]; services: FleetService[] }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [scrollMargin, setScrollMargin] = useState(0);
  useLayoutEffect(() => setScrollMargin((body.current?.getBoundingClientRect().top ?? 0) + window.scrollY), []);
  const rows = useWindowVirtualizer({ count: services.length, estimateSize: () => ESTIMATED_ROW_PX, overscan: OVERSCAN_ROWS, scrollMargin });
  const items = rows.getVirtualItems();
  const before = items.length > 0 ? items[0]!.start - scrollMargin : 0;
  const after = items.length > 0 ? rows.getTotalSize() - (items.at(-1)!.end - scrollMargin) : 0;
  const columns = environments.length + 2;

  return (
    <div className="table-scroll">
      <table className="fleet" data-testid="fleet" style={{ minWidth: 300 + 220 * environments.length }}>
        <colgroup>
          <col className="fleet-service" />
          <col className="fleet-last-run" />
          {environments.map((environment) => (
            <col key={environment} />
          ))}
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Last run</th>
            {environments.map((environment) => (
              <th scope="col" key={environment}>
                {environment}
              </th>
            ))}
          </tr>
        </thead>
        <tbody ref={body}>
          {before > 0 && (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={columns} style={{ height: before }} />
            </tr>
          )}
          {items.map((item) => (
            <FleetRow key={services[item.index]!.name} service={services[item.index]!} index={item.index} measure={rows.measureElement} />
          ))}
          {after > 0 && (
            <tr aria-hidden="true" className="spacer">
              <td colSpan={columns} style={{ height: after }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function FleetRow({ service, index, measure }: { service: FleetService; index: number; measure: (element: Element | null) => void }) {
  return (
    <tr data-service={service.name} data-index={index} ref={measure}>
      <th scope="row">
        <Link to={`/services/${encodeURIComponent(service.name)}`}>{service.name}</Link>
      </th>
      <td>
        {service.lastRun ? (
          <Link to={`/runs/${service.lastRun.id}`} className="run-link">
            <Status status={service.lastRun.status} /> <span className="muted">#{service.lastRun.id}</span>
          </Link>
        ) : (
          <span className="muted">never run</span>
        )}
      </td>
      {service.cells.map((cell) => (
        <td key={cell.environment} className={`cell health-${cell.health}`} data-environment={cell.environment}>
          <Cell service={service.name} cell={cell} />
        </td>
      ))}
    </tr>
  );
}

function Cell({ service, cell }: { service: string; cell: FleetCell }) {
  const { client, can } = useSession();
  const queries = useQueryClient();
  const [promoting, setPromoting] = useState(false);
  if (!cell.deploys) return <span className="muted small">not deployed here</span>;
  const serving = cell.serving;
  return (
    <div className="cell-body">
      {serving ? (
        <>
          <div className="cell-release">
            <span className={`health-dot health-${cell.health}`} title={healthText(cell)} aria-label={healthText(cell)} />
            <span className="release-id">#{serving.id}</span> <Ago at={serving.since} />
          </div>
          <Commit sha={serving.commitSha} title={serving.commitTitle} author={serving.commitAuthor} />
        </>
      ) : (
        <span className="muted">nothing deployed</span>
      )}
      {cell.latest && (
        <div className="cell-note">
          <Status status={cell.latest.status} label={`${cell.latest.kind} #${cell.latest.releaseId} ${cell.latest.status === 'in_progress' ? 'in progress' : cell.latest.status.replace('_', ' ')}`} />
        </div>
      )}
      {cell.waiting.map((waiting) => (
        <div className="cell-note" key={waiting.runId}>
          <Link to={`/runs/${waiting.runId}`} className="badge badge-waiting" title={waiting.wait.detail}>
            {waiting.releaseId !== null ? `#${waiting.releaseId} ` : ''}waits: {waiting.wait.kind}
          </Link>
        </div>
      ))}
      {cell.lock && (
        <div className="cell-note">
          <span className="badge badge-lock" title={`${cell.lock.reason} (${cell.lock.actor})`}>
            locked{cell.lock.service === null ? ' (all)' : ''}
          </span>
        </div>
      )}
      {cell.drift && (
        <div className="cell-note drift">
          <span className="badge badge-drift">differs from {cell.drift.from}</span>
          {can('deployer') && !cell.waiting.some((waiting) => waiting.releaseId === cell.drift!.releaseId) && (
            <button className="small-button" onClick={() => setPromoting(true)}>
              Promote #{cell.drift.releaseId}
            </button>
          )}
        </div>
      )}
      {promoting && cell.drift && (
        <ConfirmDialog
          title={`Promote ${service} to ${cell.environment}`}
          confirm="Promote"
          onClose={() => setPromoting(false)}
          onConfirm={async () => {
            await client.promote(service, { release: cell.drift!.releaseId, environment: cell.environment });
            await queries.invalidateQueries({ queryKey: ['fleet'] });
          }}
        >
          <p>
            Release <strong>#{cell.drift.releaseId}</strong>, which serves in {cell.drift.from}, goes to <strong>{cell.environment}</strong>
            {serving ? (
              <>
                , replacing release <strong>#{serving.id}</strong> ({serving.commitSha.slice(0, 8)})
              </>
            ) : null}
            . It passes {cell.environment}'s gate first: approvals, soak and windows still apply.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}

function healthText(cell: FleetCell): string {
  const counts = cell.instances ? ` (${cell.instances.running} of ${cell.instances.placed} instances running)` : '';
  switch (cell.health) {
    case 'healthy':
      return `healthy${counts}`;
    case 'degraded':
      return `degraded${counts}`;
    case 'down':
      return `down${counts}`;
    case 'unknown':
      return 'health not known: its target keeps its own instances';
    default:
      return assertNever(cell.health, 'health');
  }
}
