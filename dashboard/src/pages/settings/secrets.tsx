// Settings: environment secrets by name and who changed them, never their values. Setting one,
// giving one a new value, deleting one (asked first).

import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { SecretEntry } from '../../../../src/client/delivery-api.ts';
import { useSession } from '../../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading } from '../../ui.tsx';
import { useAction, useRefresh, useTargets } from './hooks.ts';
import { Outcome, Section } from './section.tsx';
import { TargetFields } from './target-fields.tsx';

const SECRET_NAME = '[A-Za-z_][A-Za-z0-9_]*';

const secretKey = (secret: SecretEntry) => `${secret.environment}/${secret.service ?? '*'}/${secret.name}`;

export function Secrets() {
  const { client } = useSession();
  const secrets = useQuery({ queryKey: ['secrets'], queryFn: () => client.secrets() });
  const [replacing, setReplacing] = useState<SecretEntry | null>(null);
  const [deleting, setDeleting] = useState<SecretEntry | null>(null);
  const refresh = useRefresh();
  const sorted = [...(secrets.data ?? [])].sort(
    (a, b) => a.environment.localeCompare(b.environment) || a.name.localeCompare(b.name) || (a.service ?? '').localeCompare(b.service ?? ''),
  );

  return (
    <Section
      id="secrets"
      title="Secrets"
      intro="Environment variables kept sealed on the server and given to deploys: for every service of an environment, or one service's own (which wins). Values are never shown; runs that start after a change get the new one."
    >
      <ErrorNote error={secrets.error} />
      {!secrets.data ? (
        !secrets.error && <Loading what="secrets" />
      ) : secrets.data.length === 0 ? (
        <p className="muted">No secret is set yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="secrets">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Environment</th>
                <th scope="col">Service</th>
                <th scope="col">Changed</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((secret) => (
                <tr key={secretKey(secret)}>
                  <th scope="row">
                    <code>{secret.name}</code>
                  </th>
                  <td data-label="Environment">{secret.environment}</td>
                  <td data-label="Service">{secret.service ? <Link to={`/services/${encodeURIComponent(secret.service)}`}>{secret.service}</Link> : <span className="muted">every service</span>}</td>
                  <td data-label="Changed">
                    <Ago at={secret.updatedAt} /> <span className="muted">by {secret.updatedBy}</span>
                  </td>
                  <td className="row-actions">
                    <button className="small-button" aria-label={`Set a new value for ${secret.name} in ${secret.environment}${secret.service ? ` for ${secret.service}` : ''}`} onClick={() => setReplacing(secret)}>
                      New value
                    </button>
                    <button className="small-button danger" aria-label={`Delete ${secret.name} in ${secret.environment}${secret.service ? ` for ${secret.service}` : ''}`} onClick={() => setDeleting(secret)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <SetSecret />
      {replacing && <ReplaceSecret secret={replacing} onClose={() => setReplacing(null)} />}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${deleting.name}`}
          confirm="Delete secret"
          danger
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await client.deleteSecret(deleting.environment, deleting.name, deleting.service ?? undefined);
            await refresh(['secrets']);
          }}
        >
          <p>
            <code>{deleting.name}</code> is deleted from <strong>{deleting.environment}</strong>
            {deleting.service ? (
              <>
                {' '}
                for <strong>{deleting.service}</strong> (the environment's value for every service, if there is one, applies again)
              </>
            ) : (
              ' for every service'
            )}
            . Runs that start from now on deploy without it; what serves now keeps the value it started with.
          </p>
        </ConfirmDialog>
      )}
    </Section>
  );
}

function ReplaceSecret({ secret, onClose }: { secret: SecretEntry; onClose: () => void }) {
  const { client } = useSession();
  const refresh = useRefresh();
  const [value, setValue] = useState('');
  return (
    <ConfirmDialog
      title={`New value for ${secret.name}`}
      confirm="Set value"
      onClose={onClose}
      onConfirm={async () => {
        if (!value) throw new Error('Type the new value first.');
        await client.setSecret(secret.environment, secret.name, { value, service: secret.service ?? undefined });
        await refresh(['secrets']);
      }}
    >
      <p>
        Replaces <code>{secret.name}</code> in <strong>{secret.environment}</strong> {secret.service ? <>for {secret.service}</> : 'for every service'}. The old value is gone
        for good; runs that start from now on get the new one.
      </p>
      <label>
        New value
        <input type="password" value={value} onChange={(event) => setValue(event.target.value)} required autoComplete="off" spellCheck={false} />
      </label>
    </ConfirmDialog>
  );
}

function SetSecret() {
  const { client } = useSession();
  const refresh = useRefresh();
  const { environments } = useTargets();
  const [environment, setEnvironment] = useState('');
  const [service, setService] = useState('');
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const action = useAction();
  const chosenEnvironment = environment || environments[0] || '';

  function submit(event: FormEvent) {
    event.preventDefault();
    void action.run(async () => {
      const set = await client.setSecret(chosenEnvironment, name.trim(), { value, service: service || undefined });
      await refresh(['secrets']);
      setName('');
      setValue('');
      return `Set ${set.name} in ${set.environment}${set.service ? ` for ${set.service}` : ' for every service'}.`;
    });
  }

  return (
    <form className="card settings-form" onSubmit={submit} aria-labelledby="set-secret-title">
      <h3 id="set-secret-title">Set a secret</h3>
      <div className="settings-fields">
        <TargetFields environment={chosenEnvironment} onEnvironment={setEnvironment} service={service} onService={setService} />
        <label>
          Name
          <input
            value={name}
            onChange={(event) => setName(event.target.value)}
            required
            pattern={SECRET_NAME}
            title="a variable name: letters, digits and _, not starting with a digit"
            placeholder="DATABASE_URL"
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <label>
          Value
          <input type="password" value={value} onChange={(event) => setValue(event.target.value)} required autoComplete="off" spellCheck={false} />
        </label>
        <button type="submit" className="primary" disabled={action.busy || !chosenEnvironment}>
          {action.busy ? 'Setting…' : 'Set secret'}
        </button>
      </div>
      <p className="muted small">Setting a name that exists replaces its value.</p>
      <Outcome error={action.error} done={action.done} />
    </form>
  );
}
