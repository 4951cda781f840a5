// Who is signed in: the API token in this browser's storage, the typed client that sends it, and
// the user it belongs to. A refused token (expired, revoked) signs the browser out.

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { ApiError, SlipwayClient } from '../../src/client/client.ts';
import type { User } from '../../src/client/api.ts';
import { allows } from '../../src/core/roles.ts';
import type { Role } from '../../src/core/types.ts';

const TOKEN_KEY = 'slipway.token';

export interface Session {
  client: SlipwayClient;
  user: User;
  /** Whether the user's role may do what `role` may: what the page offers follows it. */
  can(role: Role): boolean;
  signOut(): void;
}

interface SessionState {
  session: Session | null;
  signIn(name: string, password: string): Promise<void>;
  /** Reads the stored token's user; false when there is none or the server refuses it. */
  restore(): Promise<boolean>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(null);

  const open = useCallback((token: string, user: User): Session => {
    const client = new SlipwayClient(window.location.origin, token);
    const signOut = () => {
      localStorage.removeItem(TOKEN_KEY);
      setSession(null);
      // The token stays usable until revoked: sign-out revokes it, best effort.
      void client.me().then(({ token: current }) => client.revokeToken(current.id)).catch(() => {});
    };
    const opened: Session = { client, user, can: (role) => allows(user.role, role), signOut };
    setSession(opened);
    return opened;
  }, []);

  const signIn = useCallback(
    async (name: string, password: string) => {
      const issued = await new SlipwayClient(window.location.origin).login({ user: name, password, name: 'dashboard' });
      localStorage.setItem(TOKEN_KEY, issued.token);
      const { user } = await new SlipwayClient(window.location.origin, issued.token).me();
      open(issued.token, user);
    },
    [open],
  );

  const restore = useCallback(async () => {
    const token = localStorage.getItem(TOKEN_KEY);
    if (!token) return false;
    try {
      const { user } = await new SlipwayClient(window.location.origin, token).me();
      open(token, user);
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) localStorage.removeItem(TOKEN_KEY);
      if (error instanceof ApiError && error.code === 'UNREACHABLE') throw error;
      return false;
    }
  }, [open]);

  const state = useMemo<SessionState>(() => ({ session, signIn, restore }), [session, signIn, restore]);
  return <SessionContext.Provider value={state}>{children}</SessionContext.Provider>;
}

export function useSessionState(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSessionState outside SessionProvider');
  return state;
}

/** The signed-in session; only pages behind the sign-in use it. */
export function useSession(): Session {
  const { session } = useSessionState();
  if (!session) throw new Error('useSession without a signed-in user');
  return session;
}
