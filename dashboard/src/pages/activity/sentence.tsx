// An audit entry in words: who did what to which service and environment, and the note they gave.
// Pure functions of the entry: no hooks and no fetching, so the page's list only lays them out.

import type { ReactNode } from 'react';
import { Link } from 'react-router';
import type { EventRecord } from '../../../../src/client/delivery-api.ts';
import { shortSha } from '../../ui.tsx';

/** Kinds whose sentence links the run already. */
export const RUN_IN_SENTENCE = new Set(['run', 'stage', 'release']);

/** The comment, reason or note a person gave with the change. */
export function note(event: EventRecord): string | null {
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
export function sentence(event: EventRecord): ReactNode {
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
