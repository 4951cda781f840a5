// Settings: environment locks. Locking an environment (every service, or one) and unlocking it (asked first).

import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { EnvironmentLock } from '../../../../src/client/delivery-api.ts';
import { useSession } from '../../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading } from '../../ui.tsx';
import { useAction, useRefresh, useTargets } from './hooks.ts';
import { Outcome, Section } from './section.tsx';
import { TargetFields } from './target-fields.tsx';

const lockKey = (lock: EnvironmentLock) => `${lock.environment}/${lock.service ?? '*'}`;

export function Locks() {
  const { client } = useSession();
  const locks = useQuery({ queryKey: ['locks'], queryFn: () => client.locks() });
  const [unlocking, setUnlocking] = useState<EnvironmentLock | null>(null);
  const refresh = useRefresh();

  return (
    <Section
      id="locks"
      title="Environment locks"
      intro="A lock holds promotions and deploys into an environment (every service, or one) until it is lifted; rollbacks still go through. Runs that reach a locked environment wait there."
    >
      <ErrorNote error={locks.error} />
      {!locks.data ? (
        !locks.error && <Loading what="locks" />
      ) : locks.data.length === 0 ? (
        <p className="muted">No environment is locked.</p>
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="locks">
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">Service</th>
                <th scope="col">Why</th>
                <th scope="col">Locked</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {locks.data.map((lock) => (
                <tr key={lockKey(lock)}>
                  <th scope="row">
                    <span className="badge badge-lock">locked</span> {lock.environment}
                  </th>
                  <td data-label="Service">{lock.service ? <Link to={`/services/${encodeURIComponent(lock.service)}`}>{lock.service}</Link> : <span className="muted">every service</span>}</td>
                  <td className="lock-reason" data-label="Why">{lock.reason}</td>
                  <td data-label="Locked">
                    <Ago at={lock.at} /> <span className="muted">by {lock.actor}</span>
                  </td>
                  <td className="row-actions">
                    <button className="small-button" aria-label={`Unlock ${lock.environment}${lock.service ? ` for ${lock.service}` : ''}`} onClick={() => setUnlocking(lock)}>
                      Unlock
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddLock />
      {unlocking && (
        <ConfirmDialog
          title={`Unlock ${unlocking.environment}`}
          confirm="Unlock"
          onClose={() => setUnlocking(null)}
          onConfirm={async () => {
            await client.unlock(unlocking.environment, unlocking.service ?? undefined);
            await refresh(['locks'], ['fleet'], ['service']);
          }}
        >
          <p>
            {unlocking.actor} locked <strong>{unlocking.environment}</strong> {unlocking.service ? <>for {unlocking.service}</> : 'for every service'} <Ago at={unlocking.at} />:
          </p>
          <blockquote className="lock-quote">{unlocking.reason}</blockquote>
          <p>Runs waiting for this lock go on at once.</p>
        </ConfirmDialog>
      )}
    </Section>
  );
}

function AddLock() {
  const { client } = useSession();
  const refresh = useRefresh();
  const { environments } = useTargets();
  const [environment, setEnvironment] = useState('');
  const [service, setService] = useState('');
  const [reason, setReason] = useState('');
  const action = useAction();
  const chosenEnvironment = environment || environments.at(-1) || '';

  function submit(event: FormEvent) {
    event.preventDefault();
    void action.run(async () => {
      const lock = await client.lock({ environment: chosenEnvironment, service: service || undefined, reason: reason.trim() });
      await refresh(['locks'], ['fleet'], ['service']);
      setReason('');
      return `Locked ${lock.environment}${lock.service ? ` for ${lock.service}` : ' for every service'}.`;
    });
  }

  return (
    <form className="card settings-form" onSubmit={submit} aria-labelledby="add-lock-title">
      <h3 id="add-lock-title">Lock an environment</h3>
      <div className="settings-fields">
        <TargetFields environment={chosenEnvironment} onEnvironment={setEnvironment} service={service} onService={setService} />
        <label className="settings-wide">
          <span>
            Why <span className="muted small">(shown to whoever waits)</span>
          </span>
          <input value={reason} onChange={(event) => setReason(event.target.value)} required maxLength={2000} placeholder="Release freeze until Monday" />
        </label>
        <button type="submit" className="primary" disabled={action.busy || !chosenEnvironment}>
          {action.busy ? 'Locking…' : 'Lock'}
        </button>
      </div>
      <Outcome error={action.error} done={action.done} />
    </form>
  );
}
