// The Activity page's filters: who, what, service and environment, and whether Slipway's own
// changes show too. They live in the URL, so a filtered view can be shared and survives a reload.

import { useQuery } from '@tanstack/react-query';
import { useSession } from '../../session.tsx';

/** What the "what" filter offers: the API's type prefixes, in words. */
export const KINDS = {
  approvals: { label: 'approvals', types: 'approval.' },
  promotions: { label: 'promotions', types: 'promotion.' },
  rollbacks: { label: 'rollbacks', types: 'rollback.' },
  locks: { label: 'locks', types: 'lock.' },
  secrets: { label: 'secrets', types: 'secret.' },
  users: { label: 'users', types: 'user.' },
  tokens: { label: 'API tokens', types: 'token.' },
  webhooks: { label: 'webhooks and git hooks', types: 'webhook_secret.,git_hook.' },
  runs: { label: 'runs', types: 'run.' },
  deployments: { label: 'deployments', types: 'deployment.' },
} as const;
type KindName = keyof typeof KINDS;

export interface ActivityFilter {
  actor: string;
  kind: KindName | null;
  service: string;
  environment: string;
  /** Slipway's own changes as well as people's. */
  all: boolean;
}

/** The filter the URL holds; what it does not name (or names wrongly) does not filter. */
export function filterOf(params: URLSearchParams): ActivityFilter {
  return {
    actor: params.get('actor') ?? '',
    kind: Object.hasOwn(KINDS, params.get('what') ?? '') ? (params.get('what') as KindName) : null,
    service: params.get('service') ?? '',
    environment: params.get('environment') ?? '',
    all: params.get('all') === '1',
  };
}

/** Whether the filter narrows the log down (showing Slipway's own changes widens it instead). */
export function isFiltered({ actor, kind, service, environment }: ActivityFilter): boolean {
  return Boolean(actor || kind || service || environment);
}

/** The filter bar. `set` changes the URL's parameters; each change goes back to the newest page. */
export function Filters({ filter, set }: { filter: ActivityFilter; set: (changes: Record<string, string | null>) => void }) {
  const { client } = useSession();
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  const users = useQuery({ queryKey: ['users'], queryFn: () => client.users() });
  const { actor, kind, service, environment, all } = filter;
  const userNames = [...new Set([...(users.data ?? []).map((user) => user.name), ...(actor ? [actor] : [])])].sort();

  return (
    <div className="filters" role="search" aria-label="Filter the activity">
      <label>
        <span className="visually-hidden">Who</span>
        <select value={actor} onChange={(event) => set({ actor: event.target.value, before: null })}>
          <option value="">anyone</option>
          {userNames.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="visually-hidden">What</span>
        <select value={kind ?? ''} onChange={(event) => set({ what: event.target.value, before: null })}>
          <option value="">every change</option>
          {(Object.keys(KINDS) as KindName[]).map((name) => (
            <option key={name} value={name}>
              {KINDS[name].label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="visually-hidden">Service</span>
        <select value={service} onChange={(event) => set({ service: event.target.value, before: null })}>
          <option value="">every service</option>
          {withCurrent(
            fleet.data?.services.map(({ name }) => name),
            service,
          ).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span className="visually-hidden">Environment</span>
        <select value={environment} onChange={(event) => set({ environment: event.target.value, before: null })}>
          <option value="">every environment</option>
          {withCurrent(fleet.data?.environments, environment).map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label className="activity-all">
        <input type="checkbox" checked={all} onChange={(event) => set({ all: event.target.checked ? '1' : null, before: null })} />
        <span>also Slipway's own</span>
      </label>
      {isFiltered(filter) && (
        <button className="link-button" onClick={() => set({ actor: null, what: null, service: null, environment: null, before: null })}>
          Clear filters
        </button>
      )}
    </div>
  );
}

/** The options of a filter, with the one the URL names even when the list does not (yet) hold it. */
function withCurrent(names: readonly string[] | undefined, current: string): string[] {
  const list = [...(names ?? [])];
  if (current && !list.includes(current)) list.push(current);
  return list;
}
