// Activity: the audit log, newest first, in words: who did what to which service and environment,
// when, and what they said. Filtered by who, what, service and environment (kept in the URL), a
// page at a time behind a cursor. The live stream does not carry audit entries, so the page reads
// the log again each time it opens.

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import type { EventRecord } from '../../../src/client/delivery-api.ts';
import { clockTime } from '../../../src/core/words.ts';
import { useSession } from '../session.tsx';
import { Ago, ErrorNote, Loading } from '../ui.tsx';
import { filterOf, Filters, isFiltered, KINDS } from './activity/filters.tsx';
import { note, RUN_IN_SENTENCE, sentence } from './activity/sentence.tsx';
import './activity.css';

const PAGE_SIZE = 50;

export function ActivityPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const filter = filterOf(params);
  const { actor, kind, service, environment, all } = filter;
  const before = Number(params.get('before')) || undefined;

  const audit = useQuery({
    queryKey: ['audit', { ...filter, before }],
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
  const filtered = isFiltered(filter);
  const oldest = audit.data?.at(-1)?.id;

  return (
    <section aria-labelledby="activity-title" className="activity-page">
      <div className="page-head">
        <h1 id="activity-title">Activity</h1>
        <Filters filter={filter} set={set} />
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
