// Settings: users and their roles. Adding one, changing a role, removing one (asked first).

import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { User } from '../../../../src/client/api.ts';
import { ROLES, type Role } from '../../../../src/core/types.ts';
import { useSession } from '../../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading } from '../../ui.tsx';
import { useAction, useRefresh } from './hooks.ts';
import { Outcome, Section } from './section.tsx';

/** The server's floor for passwords (auth/passwords.ts, which the browser cannot import). */
const MIN_PASSWORD_LENGTH = 12;
const USER_NAME = '[a-z0-9][a-z0-9._\\-]{0,63}';

const ROLE_WORDS: Record<Role, string> = {
  viewer: 'Reads everything but secrets.',
  developer: 'Also starts, cancels, reruns and resumes runs.',
  deployer: 'Also approves, promotes, rolls back and locks.',
  admin: 'Also manages users, tokens, secrets and webhooks.',
};

export function Users() {
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
