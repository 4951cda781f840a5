// Settings (admins): users and their roles, API tokens, environment secrets (names and who changed
// them, never values), notification channels (read-only: slipway.yml defines them) and environment
// locks. Each change asks first when it takes something away, and lands in the audit log.

import { Channels } from './settings/channels.tsx';
import { Locks } from './settings/locks.tsx';
import { Secrets } from './settings/secrets.tsx';
import { Tokens } from './settings/tokens.tsx';
import { Users } from './settings/users.tsx';
import './settings.css';

export function SettingsPage() {
  return (
    <section aria-labelledby="settings-title" className="settings-page">
      <div className="page-head">
        <h1 id="settings-title">Settings</h1>
        <nav aria-label="Settings sections" className="settings-nav">
          <a href="#users">Users</a>
          <a href="#tokens">API tokens</a>
          <a href="#secrets">Secrets</a>
          <a href="#channels">Notification channels</a>
          <a href="#locks">Environment locks</a>
        </nav>
      </div>
      <Users />
      <Tokens />
      <Secrets />
      <Channels />
      <Locks />
    </section>
  );
}
