// Settings (admins): users and their roles, API tokens, environment secrets (names and who changed
// them, never values) and environment locks. Each change asks first when it takes something away,
// and lands in the audit log. (Notification channels live in slipway.yml: the API lists none.)

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router';
import type { ApiTokenListing, User } from '../../../src/client/api.ts';
import type { EnvironmentLock, SecretEntry } from '../../../src/client/delivery-api.ts';
import { ROLES, type Role } from '../../../src/core/types.ts';
import { useSession } from '../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading } from '../ui.tsx';
import './settings.css';

/** The server's floor for passwords (auth/passwords.ts, which the browser cannot import). */
const MIN_PASSWORD_LENGTH = 12;
const USER_NAME = '[a-z0-9][a-z0-9._\\-]{0,63}';
const SECRET_NAME = '[A-Za-z_][A-Za-z0-9_]*';

const ROLE_WORDS: Record<Role, string> = {
  viewer: 'Reads everything but secrets.',
  developer: 'Also starts, cancels, reruns and resumes runs.',
  deployer: 'Also approves, promotes, rolls back and locks.',
  admin: 'Also manages users, tokens, secrets and webhooks.',
};

export function SettingsPage() {
  return (
    <section aria-labelledby="settings-title" className="settings-page">
      <div className="page-head">
        <h1 id="settings-title">Settings</h1>
        <nav aria-label="Settings sections" className="settings-nav">
          <a href="#users">Users</a>
          <a href="#tokens">API tokens</a>
          <a href="#secrets">Secrets</a>
          <a href="#locks">Environment locks</a>
        </nav>
      </div>
      <Users />
      <Tokens />
      <Secrets />
      <Locks />
    </section>
  );
}

/** Marks queries stale after a change: the audit log always, since every change is recorded. */
function useRefresh() {
  const queries = useQueryClient();
  return (...keys: Array<readonly unknown[]>) => Promise.all([...keys, ['audit']].map((queryKey) => queries.invalidateQueries({ queryKey })));
}

/** A form that reports its own error and a short note of what it did. */
function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  async function run(action: () => Promise<string>) {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await action());
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, done, run };
}

function Section({ id, title, intro, children }: { id: string; title: string; intro: ReactNode; children: ReactNode }) {
  return (
    <section id={id} aria-labelledby={`${id}-title`} className="settings-section">
      <h2 id={`${id}-title`}>{title}</h2>
      <p className="muted small">{intro}</p>
      {children}
    </section>
  );
}

function Outcome({ error, done }: { error: unknown; done: string | null }) {
  return (
    <>
      <ErrorNote error={error} />
      <p className="ok small" role="status">
        {done}
      </p>
    </>
  );
}

// Users

function Users() {
  const { client, user: me } = useSession();
  const users = useQuery({ queryKey: ['users'], queryFn: () => client.users() });
  const [changing, setChanging] = useState<User | null>(null);
  const [removing, setRemoving] = useState<User | null>(null);
  const refresh = useRefresh();

  return (
    <Section id="users" title="Users" intro="Who may sign in, and what their role lets them do. Each role may do all that the ones before it may.">
      <ErrorNote error={users.error} />
      {!users.data ? (
        !users.error && <Loading what="users" />
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="users">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Signs in with</th>
                <th scope="col">E-mail</th>
                <th scope="col">Added</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((user) => (
                <tr key={user.id}>
                  <th scope="row">
                    {user.name} {user.name === me.name && <span className="badge">you</span>}
                  </th>
                  <td data-label="Role">
                    <span className={`badge role-${user.role}`}>{user.role}</span>
                  </td>
                  <td data-label="Signs in with">{user.hasPassword ? 'password or token' : <span className="muted">API tokens only</span>}</td>
                  <td data-label="E-mail">{user.email ?? <span className="muted">—</span>}</td>
                  <td data-label="Added">
                    <Ago at={user.createdAt} />
                  </td>
                  <td className="row-actions">
                    {user.name !== me.name && (
                      <>
                        <button className="small-button" aria-label={`Change role of ${user.name}`} onClick={() => setChanging(user)}>
                          Change role
                        </button>
                        <button className="small-button danger" aria-label={`Remove ${user.name}`} onClick={() => setRemoving(user)}>
                          Remove
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <AddUser />
      {changing && <ChangeRole user={changing} onClose={() => setChanging(null)} />}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing.name}`}
          confirm="Remove user"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await client.removeUser(removing.name);
            await refresh(['users'], ['tokens']);
          }}
        >
          <p>
            <strong>{removing.name}</strong> ({removing.role}) can no longer sign in, and every API token of theirs is revoked at once: scripts and CI jobs using them stop
            working. What they did stays in the activity log.
          </p>
        </ConfirmDialog>
      )}
    </Section>
  );
}

function ChangeRole({ user, onClose }: { user: User; onClose: () => void }) {
  const { client } = useSession();
  const refresh = useRefresh();
  const [role, setRole] = useState<Role>(user.role);
  return (
    <ConfirmDialog
      title={`Change ${user.name}'s role`}
      confirm="Change role"
      onClose={onClose}
      onConfirm={async () => {
        if (role === user.role) throw new Error(`${user.name} is already ${role}: choose another role`);
        await client.updateUser(user.name, { role });
        await refresh(['users']);
      }}
    >
      <p>
        {user.name} is <strong>{user.role}</strong> now. The new role applies to their next request, with every token they have.
      </p>
      <RoleSelect value={role} onChange={setRole} label="New role" id="change-role" />
      <p id="change-role-meaning" className="muted small">
        {role}: {ROLE_WORDS[role]}
      </p>
    </ConfirmDialog>
  );
}

function RoleSelect({ value, onChange, label, id }: { value: Role; onChange: (role: Role) => void; label: string; id: string }) {
  return (
    <label>
      {label}
      <select value={value} onChange={(event) => onChange(event.target.value as Role)} aria-describedby={`${id}-meaning`}>
        {ROLES.map((role) => (
          <option key={role} value={role}>
            {role}
          </option>
        ))}
      </select>
    </label>
  );
}

function AddUser() {
  const { client } = useSession();
  const refresh = useRefresh();
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [email, setEmail] = useState('');
  const action = useAction();

  function submit(event: FormEvent) {
    event.preventDefault();
    void action.run(async () => {
      const added = await client.addUser({ name: name.trim(), role, password: password || undefined, email: email.trim() || undefined });
      await refresh(['users']);
      setName('');
      setPassword('');
      setEmail('');
      return `Added ${added.name} as ${added.role}${added.hasPassword ? '' : ': they work with API tokens only, until they get a password'}.`;
    });
  }

  return (
    <form className="card settings-form" onSubmit={submit} aria-labelledby="add-user-title">
      <h3 id="add-user-title">Add a user</h3>
      <div className="settings-fields">
        <label>
          Name
          <input
            value={name}
            onChange={(event) => setName(event.target.value)}
            required
            pattern={USER_NAME}
            title="lower-case letters, digits, dots, dashes and underscores"
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <RoleSelect value={role} onChange={setRole} label="Role" id="add-user-role" />
        <label>
          <span>
            Password <span className="muted small">(optional, at least {MIN_PASSWORD_LENGTH} characters)</span>
          </span>
          <input type="password" value={password} onChange={(event) => setPassword(event.target.value)} minLength={MIN_PASSWORD_LENGTH} autoComplete="new-password" />
        </label>
        <label>
          <span>
            E-mail <span className="muted small">(optional: approval requests)</span>
          </span>
          <input type="email" value={email} onChange={(event) => setEmail(event.target.value)} autoComplete="off" />
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? 'Adding…' : 'Add user'}
        </button>
      </div>
      <p className="muted small">
        <span id="add-user-role-meaning">
          {role}: {ROLE_WORDS[role]}
        </span>{' '}
        Without a password the user signs in with API tokens only: create one with <code>slipway token create --user &lt;name&gt;</code>.
      </p>
      <Outcome error={action.error} done={action.done} />
    </form>
  );
}

// API tokens

function Tokens() {
  const { client, signOut } = useSession();
  const tokens = useQuery({ queryKey: ['tokens', { all: true }], queryFn: () => client.tokens({ all: true }) });
  const me = useQuery({ queryKey: ['me'], queryFn: () => client.me() });
  const [revoking, setRevoking] = useState<ApiTokenListing | null>(null);
  const refresh = useRefresh();
  const current = me.data?.token.id;
  const sorted = [...(tokens.data ?? [])].sort((a, b) => a.user.localeCompare(b.user) || b.id - a.id);

  return (
    <Section id="tokens" title="API tokens" intro="Every user's tokens: the CLI, scripts, CI and this dashboard's sign-ins. Their values are shown once, when created, and never again.">
      <ErrorNote error={tokens.error} />
      {!tokens.data ? (
        !tokens.error && <Loading what="tokens" />
      ) : tokens.data.length === 0 ? (
        <p className="muted">No tokens.</p>
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="tokens">
            <thead>
              <tr>
                <th scope="col">Token</th>
                <th scope="col">User</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((token) => (
                <tr key={token.id}>
                  <th scope="row">
                    {token.name} <span className="muted small">#{token.id}</span> {token.id === current && <span className="badge">this browser</span>}
                  </th>
                  <td data-label="User">{token.user}</td>
                  <td data-label="Created">
                    <Ago at={token.createdAt} />
                  </td>
                  <td data-label="Last used">{token.lastUsedAt ? <Ago at={token.lastUsedAt} /> : <span className="muted">never</span>}</td>
                  <td className="row-actions">
                    <button className="small-button danger" aria-label={`Revoke token ${token.name} (#${token.id}) of ${token.user}`} onClick={() => setRevoking(token)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”`}
          confirm="Revoke token"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await client.revokeToken(revoking.id);
            if (revoking.id === current) signOut();
            else await refresh(['tokens']);
          }}
        >
          <p>
            Token #{revoking.id} of <strong>{revoking.user}</strong> stops working at once: whatever uses it is refused from its next request.
          </p>
          {revoking.id === current && (
            <p className="error">This is the token this browser signed in with: revoking it signs you out.</p>
          )}
        </ConfirmDialog>
      )}
    </Section>
  );
}

// Secrets

function useTargets() {
  const { client } = useSession();
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  return { environments: fleet.data?.environments ?? [], services: fleet.data?.services.map((service) => service.name) ?? [] };
}

const secretKey = (secret: SecretEntry) => `${secret.environment}/${secret.service ?? '*'}/${secret.name}`;

function Secrets() {
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
  const { environments, services } = useTargets();
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
        <label>
          Environment
          <select value={chosenEnvironment} onChange={(event) => setEnvironment(event.target.value)} required>
            {environments.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Service
          <select value={service} onChange={(event) => setService(event.target.value)}>
            <option value="">every service</option>
            {services.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
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

// Environment locks

const lockKey = (lock: EnvironmentLock) => `${lock.environment}/${lock.service ?? '*'}`;

function Locks() {
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
  const { environments, services } = useTargets();
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
        <label>
          Environment
          <select value={chosenEnvironment} onChange={(event) => setEnvironment(event.target.value)} required>
            {environments.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Service
          <select value={service} onChange={(event) => setService(event.target.value)}>
            <option value="">every service</option>
            {services.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
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
