import { useState, type FormEvent } from 'react';
import { useSessionState } from '../session.tsx';
import { messageOf } from '../ui.tsx';

export function LoginPage() {
  const { signIn } = useSessionState();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(name.trim(), password);
    } catch (failure) {
      setError(messageOf(failure));
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">
          <img src="/favicon.svg" alt="" width="28" height="28" /> Sign in to Slipway
        </h1>
        <label>
          User
          <input name="user" autoComplete="username" value={name} onChange={(event) => setName(event.target.value)} required autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(event) => setPassword(event.target.value)} required />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="muted small">
          The first start of <code>slipway up</code> prints the admin's password; <code>slipway users add</code> makes more users.
        </p>
      </form>
    </main>
  );
}
