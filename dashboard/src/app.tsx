// The page's frame: sign-in first, then the navigation and one page per route.

import { useEffect, useState } from 'react';
import { NavLink, Route, Routes, useLocation } from 'react-router';
import { LiveProvider, useLiveState } from './live.tsx';
import { ActivityPage } from './pages/activity.tsx';
import { FleetPage } from './pages/fleet.tsx';
import { LoginPage } from './pages/login.tsx';
import { MetricsPage } from './pages/metrics.tsx';
import { RunPage } from './pages/run.tsx';
import { RunsPage } from './pages/runs.tsx';
import { ServicePage } from './pages/service.tsx';
import { SettingsPage } from './pages/settings.tsx';
import { useSession, useSessionState } from './session.tsx';

export function App() {
  const { session, restore } = useSessionState();
  const [restoring, setRestoring] = useState(true);
  const [unreachable, setUnreachable] = useState(false);

  useEffect(() => {
    restore()
      .catch(() => setUnreachable(true))
      .finally(() => setRestoring(false));
  }, [restore]);

  if (restoring) return <p className="centered muted">Loading…</p>;
  if (unreachable) return <p className="centered">The Slipway server does not answer. Is <code>slipway up</code> running?</p>;
  if (!session) return <LoginPage />;
  return (
    <LiveProvider>
      <Frame />
    </LiveProvider>
  );
}

function Frame() {
  const { user, can, signOut } = useSession();
  const live = useLiveState();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [location.pathname]);

  return (
    <div className="frame">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand">
          <img src="/favicon.svg" alt="" width="22" height="22" /> Slipway
        </NavLink>
        <button className="menu-button" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen((open) => !open)}>
          Menu
        </button>
        <nav id="nav" className={menuOpen ? 'open' : ''} aria-label="Pages">
          <NavLink to="/" end>
            Fleet
          </NavLink>
          <NavLink to="/runs">Runs</NavLink>
          <NavLink to="/activity">Activity</NavLink>
          <NavLink to="/metrics">Metrics</NavLink>
          {can('admin') && <NavLink to="/settings">Settings</NavLink>}
        </nav>
        <span className={`live live-${live}`} role="status" title="The live event stream">
          {live === 'live' ? 'live' : live === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <span className="who">
          {user.name} <span className="muted">({user.role})</span>
        </span>
        <button className="link-button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/" element={<FleetPage />} />
          <Route path="/services/:name" element={<ServicePage />} />
          <Route path="/runs" element={<RunsPage />} />
          <Route path="/runs/:id" element={<RunPage />} />
          <Route path="/activity" element={<ActivityPage />} />
          <Route path="/metrics" element={<MetricsPage />} />
          <Route path="/settings" element={can('admin') ? <SettingsPage /> : <NotFound />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no such page. <NavLink to="/">Back to the fleet</NavLink>.
      </p>
    </section>
  );
}
