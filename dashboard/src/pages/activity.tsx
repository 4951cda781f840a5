// Activity: the audit log, newest first, in words: who did what to which service and environment,
// when, and what they said. Filtered by who, what, service and environment (kept in the URL), a
// page at a time behind a cursor. The live stream does not carry audit entries, so the page reads
// the log again each time it opens.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { EventRecord } from '../../../src/client/delivery-api.ts';
import { clockTime } from '../../../src/core/words.ts';
import { useSession } from '../session.tsx';
import { Ago, ErrorNote, Loading, shortSha } from '../ui.tsx';
import './activity.css';

const PAGE_SIZE = 50;

/** What the "what" filter offers: the API's type prefixes, in words. */
const KINDS = {
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

export function ActivityPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const actor = params.get('actor') ?? '';
  const kind = Object.hasOwn(KINDS, params.get('what') ?? '') ? (params.get('what') as KindName) : null;
  const service = params.get('service') ?? '';
  const environment = params.get('environment') ?? '';
  const all = params.get('all') === '1';
  const before = Number(params.get('before')) || undefined;

  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  const users = useQuery({ queryKey: ['users'], queryFn: () => client.users() });
  const filters = { actor, kind, service, environment, all, before };
  const audit = useQuery({
    queryKey: ['audit', filters],
    queryFn: () =>
      client.audit({
        actor: actor || undefined,
        type: kind ? KINDS[kind].types : undefined,
        service: service || undefined,
        environment: environment || undefined,
        all,
        before,
        limit: PAGE_SIZE,
      }),
    placeholderData: keepPreviousData,
    // Nothing tells this page the log grew: it is read again whenever the page opens.
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
  const filtered = Boolean(actor || kind || service || environment);
  const userNames = [...new Set([...(users.data ?? []).map((user) => user.name), ...(actor ? [actor] : [])])].sort();
  const oldest = audit.data?.at(-1)?.id;

  return (
    <section aria-labelledby="activity-title" className="activity-page">
      <div className="page-head">
        <h1 id="activity-title">Activity</h1>
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
          {filtered && (
            <button className="link-button" onClick={() => set({ actor: null, what: null, service: null, environment: null, before: null })}>
              Clear filters
            </button>
          )}
        </div>
      </div>
      <p className="muted small">
        {all ? 'What people changed and what Slipway did by itself' : 'What people changed: approvals, promotions, rollbacks, locks, secrets, users and tokens'}, newest first.
      </p>
      <ErrorNote error={audit.error} />
      {!audit.data ? (
        !audit.error && <Loading what="the activity" />
      ) : audit.data.length === 0 ? (
        <p className="muted">{before ? 'Nothing older.' : filtered ? 'No changes match.' : 'No changes recorded yet.'}</p>
      ) : (
        <Entries events={audit.data} />
      )}
      <nav className="pager" aria-label="Pages of activity">
        {before !== undefined && <button onClick={() => set({ before: null })}>Newest</button>}
        {audit.data && audit.data.length === PAGE_SIZE && oldest !== undefined && <button onClick={() => set({ before: String(oldest) })}>Older</button>}
      </nav>
    </section>
  );
}

/** The options of a filter, with the one the URL names even when the list does not (yet) hold it. */
function withCurrent(names: readonly string[] | undefined, current: string): string[] {
  const list = [...(names ?? [])];
  if (current && !list.includes(current)) list.push(current);
  return list;
}

/** The entries under a heading per day, as this browser's clock reads it. */
function Entries({ events }: { events: EventRecord[] }) {
  const days: Array<{ day: string; events: EventRecord[] }> = [];
  for (const event of events) {
    const day = dayOf(event.at);
    if (days.at(-1)?.day !== day) days.push({ day, events: [] });
    days.at(-1)!.events.push(event);
  }
  return (
    <div className="activity" data-testid="activity">
      {days.map(({ day, events: ofDay }) => (
        <section key={day} aria-label={day}>
          <h2 className="activity-day">{day}</h2>
          <ol className="activity-list">
            {ofDay.map((event) => (
              <Entry key={event.id} event={event} />
            ))}
          </ol>
        </section>
      ))}
    </div>
  );
}

function dayOf(at: string): string {
  const date = new Date(at);
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (date.toDateString() === today.toDateString()) return 'Today';
  if (date.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return date.toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

function Entry({ event }: { event: EventRecord }) {
  const said = note(event);
  return (
    <li className={`activity-entry activity-${event.type.split('.')[0]}`} data-type={event.type}>
      <span className="activity-mark" aria-hidden="true" />
      <div className="activity-body">
        <p className="activity-what">{sentence(event)}</p>
        {said && <blockquote className="activity-note">{said}</blockquote>}
        <p className="activity-meta muted small">
          <Ago at={event.at} /> · {clockTime(event.at)}
          {event.runId !== null && !RUN_IN_SENTENCE.has(event.type.split('.')[0]!) && (
            <>
              {' · '}
              <Link to={`/runs/${event.runId}`}>run #{event.runId}</Link>
            </>
          )}
          {' · '}
          <code>{event.type}</code>
        </p>
      </div>
    </li>
  );
}

/** Kinds whose sentence links the run already. */
const RUN_IN_SENTENCE = new Set(['run', 'stage', 'release']);

/** The comment, reason or note a person gave with the change. */
function note(event: EventRecord): string | null {
  const data = dataOf(event);
  for (const key of ['comment', 'reason', 'note']) {
    const value = data[key];
    if (typeof value === 'string' && value.trim() !== '') return value;
  }
  return null;
}

type Data = Record<string, unknown>;

function dataOf(event: EventRecord): Data {
  return event.data !== null && typeof event.data === 'object' ? (event.data as Data) : {};
}

/** One entry as a sentence: who did what to which service and environment. */
function sentence(event: EventRecord): ReactNode {
  const data = dataOf(event);
  const text = (key: string) => (typeof data[key] === 'string' && data[key] !== '' ? (data[key] as string) : null);
  const number = (key: string) => (typeof data[key] === 'number' ? (data[key] as number) : null);
  const who = event.actor ? <strong>{event.actor}</strong> : <span className="muted">Slipway</span>;
  const svc = event.service ? <ServiceLink name={event.service} /> : null;
  const env = event.environment ? <strong>{event.environment}</strong> : null;
  const release = number('releaseId');
  const releaseText = release !== null ? `release #${release}` : 'a release';
  const run = event.runId !== null ? <Link to={`/runs/${event.runId}`}>run #{event.runId}</Link> : 'a run';
  // At the start of a sentence.
  const Run = event.runId !== null ? <Link to={`/runs/${event.runId}`}>Run #{event.runId}</Link> : 'A run';
  const [kind, verb] = splitType(event.type);
  const ofService = svc ? <> of {svc}</> : null;
  const inEnvironment = env ? <> in {env}</> : null;
  const forService = svc ? <> for {svc}</> : <> for every service</>;

  switch (event.type) {
    case 'approval.given':
      return (
        <>
          {who} approved {releaseText}
          {ofService} for {env ?? 'its gate'}
        </>
      );
    case 'approval.rejected':
      return (
        <>
          {who} rejected {releaseText}
          {ofService} for {env ?? 'its gate'}
        </>
      );
    case 'approval.requested':
      return (
        <>
          {releaseText[0]!.toUpperCase() + releaseText.slice(1)}
          {ofService} waits for approval to enter {env}
          {text('waitingFor') && <span className="muted">: {text('waitingFor')!.replace(/^approval to enter [^:]+: /, '')}</span>}
        </>
      );
    case 'promotion.requested':
      return (
        <>
          {who} promoted {releaseText}
          {ofService} to {env}
        </>
      );
    case 'promotion.forced':
      return (
        <>
          {who} forced {releaseText}
          {ofService} into {env}, past its gate <span className="badge badge-lock">forced</span>
        </>
      );
    case 'rollback.requested': {
      const [from, to] = [number('fromReleaseId'), number('toReleaseId')];
      return (
        <>
          {who} rolled {svc ?? 'a service'} back{inEnvironment}
          {from !== null && to !== null ? ` from release #${from} to #${to}` : to !== null ? ` to release #${to}` : ''}
        </>
      );
    }
    case 'lock.set':
      return (
        <>
          {who} locked {env}
          {forService} <span className="badge badge-lock">locked</span>
        </>
      );
    case 'lock.released':
      return (
        <>
          {who} unlocked {env}
          {forService}
          {text('lockedBy') && <span className="muted"> (locked by {text('lockedBy')})</span>}
        </>
      );
    case 'secret.set':
    case 'secret.deleted':
      return (
        <>
          {who} {verb === 'set' ? 'set' : 'deleted'} the secret <code>{text('name') ?? '?'}</code>
          {inEnvironment}
          {svc ? <> for {svc}</> : env ? ' for every service' : ''}
        </>
      );
    case 'secret.key_rotated':
      return (
        <>
          {who} rotated the secrets' key ({number('resealed') ?? 0} values sealed again)
        </>
      );
    case 'secret.key_resealed':
      return <>{who} finished an interrupted key rotation ({number('resealed') ?? 0} values sealed again)</>;
    case 'user.created':
      return event.actor ? (
        <>
          {who} added the user <strong>{text('user')}</strong> as {text('role')}
          {data.password === false ? <span className="muted"> (tokens only, no password)</span> : null}
        </>
      ) : (
        <>
          The first start created the user <strong>{text('user')}</strong> as {text('role')}
        </>
      );
    case 'user.role_changed':
      return (
        <>
          {who} changed <strong>{text('user')}</strong>'s role from {text('from')} to {text('to')}
        </>
      );
    case 'user.password_set':
      return text('user') === event.actor ? (
        <>{who} changed their password</>
      ) : (
        <>
          {who} set <strong>{text('user')}</strong>'s password
        </>
      );
    case 'user.email_set':
      return text('user') === event.actor ? (
        <>{who} changed their e-mail address</>
      ) : (
        <>
          {who} changed <strong>{text('user')}</strong>'s e-mail address
        </>
      );
    case 'user.removed':
      return (
        <>
          {who} removed the user <strong>{text('user')}</strong>
          {text('role') && <span className="muted"> ({text('role')})</span>}
        </>
      );
    case 'token.created': {
      const owner = text('owner');
      return (
        <>
          {who} created the API token “{text('name')}”{owner && owner !== event.actor ? <> for <strong>{owner}</strong></> : null}
        </>
      );
    }
    case 'token.revoked': {
      const owner = text('owner');
      return (
        <>
          {who} revoked {owner === event.actor ? 'their' : 'the'} API token “{text('name')}”
          <span className="muted"> (#{number('tokenId')})</span>
        </>
      );
    }
    case 'webhook_secret.set':
    case 'webhook_secret.removed':
      return (
        <>
          {who} {verb === 'set' ? 'set' : 'removed'} the {text('forge')} webhook secret of <code>{text('repository')}</code>
        </>
      );
    case 'git_hook.registered':
      return (
        <>
          {who} registered a git hook for <code>{text('repository')}</code>
        </>
      );
    case 'run.created':
      return (
        <>
          {event.actor ? who : 'A ' + triggerWords(data)} started {run}
          {ofService}
          {text('ref') && <span className="muted"> at {/^[0-9a-f]{40}$/.test(text('ref')!) ? shortSha(text('ref')!) : text('ref')}</span>}
        </>
      );
    case 'run.cancel_requested':
      return (
        <>
          {who} cancelled {run}
          {ofService}
        </>
      );
    case 'run.woken':
      return (
        <>
          {Run}
          {ofService} went on{text('why') && <span className="muted">: {text('why')}</span>}
        </>
      );
    case 'release.created':
      return (
        <>
          {Run}
          {ofService} built {releaseText}
        </>
      );
    case 'trigger.skipped':
      return (
        <>
          A {text('forge') ?? ''} push{svc ? <> to {svc}</> : null} started no run
        </>
      );
  }

  switch (kind) {
    case 'run':
      return (
        <>
          {Run}
          {ofService} {words(verb)}
          {inEnvironment}
        </>
      );
    case 'stage':
      return (
        <>
          Stage <strong>{text('name') ?? '?'}</strong> of {run}
          {ofService} {words(verb)}
        </>
      );
    case 'deployment': {
      const how = text('kind') === 'rollback' ? 'Rollback to ' : text('kind') === 'promote' ? 'Promotion of ' : 'Deployment of ';
      return (
        <>
          {how}
          {releaseText}
          {ofService}
          {inEnvironment} {verb === 'in_progress' ? 'started' : words(verb)}
          {data.recovered === true && <span className="muted"> (ended on restart)</span>}
        </>
      );
    }
    case 'notification':
      return (
        <>
          Notification “{text('event')}”{ofService} to <strong>{text('destination')}</strong> {words(verb)}
          {text('error') && <span className="muted">: {text('error')}</span>}
        </>
      );
    case 'commit_status':
      return (
        <>
          Commit status “{text('state')}” for <code>{text('repository')}</code> {words(verb)}
          {text('error') && <span className="muted">: {text('error')}</span>}
        </>
      );
    default:
      return (
        <>
          {who} {event.type.replace(/[._]/g, ' ')}
          {ofService}
          {inEnvironment}
        </>
      );
  }
}

function splitType(type: string): [string, string] {
  const dot = type.indexOf('.');
  return dot < 0 ? [type, ''] : [type.slice(0, dot), type.slice(dot + 1)];
}

const VERBS: Record<string, string> = {
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'was cancelled',
  rejected: 'was rejected',
  expired: 'expired waiting',
  waiting: 'waits',
  running: 'started',
  pending: 'was queued',
  skipped: 'was skipped',
  rolled_back: 'was rolled back',
  sent: 'was sent',
  retrying: 'will be tried again',
};

function words(verb: string): string {
  return VERBS[verb] ?? verb.replace(/_/g, ' ');
}

function triggerWords(data: Data): string {
  const trigger = data.trigger as { kind?: string; by?: string } | undefined;
  switch (trigger?.kind) {
    case 'push':
      return 'push';
    case 'pull_request':
      return 'pull request';
    case 'tag':
      return 'tag';
    case 'schedule':
      return `schedule (${trigger.by ?? '?'})`;
    default:
      return 'trigger';
  }
}

function ServiceLink({ name }: { name: string }) {
  return <Link to={`/services/${encodeURIComponent(name)}`}>{name}</Link>;
}
