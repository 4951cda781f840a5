// The live stream: one server-sent events connection for the whole page (runs, stages,
// deployments, releases, approvals; no log lines), turned into fresh queries. It never polls:
// an event marks what it touches as stale and the pages on screen read it again, a burst of
// events coalesced into one read. Lost, it reconnects by itself; after a server restart (a
// reset, or a new connection) everything on screen is read again.

import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import type { EventStreamItem } from '../../src/client/client.ts';
import { assertNever } from '../../src/core/types.ts';
import { useSession } from './session.tsx';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

const LiveContext = createContext<LiveState>('connecting');

/** How long events gather before the queries they touch are read again. */
const COALESCE_MS = 150;
const RETRY_MAX_MS = 10_000;

export function LiveProvider({ children }: { children: ReactNode }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const [state, setState] = useState<LiveState>('connecting');

  useEffect(() => {
    const abort = new AbortController();
    const stale = new StaleKeys(queries);
    void (async () => {
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          for await (const item of client.events({ types: ['run', 'stage', 'deployment', 'release', 'approval'] }, abort.signal)) {
            if (item.type === 'ready') {
              setState('live');
              // Whatever changed while this page was not listening is read again.
              if (attempt > 0) stale.everything();
              attempt = 0;
            } else stale.touch(item);
          }
        } catch {
          // UNREACHABLE after the client's own reconnections: keep trying, more slowly.
        }
        if (abort.signal.aborted) return;
        setState('reconnecting');
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, 1000 * 2 ** attempt)));
      }
    })();
    return () => {
      abort.abort();
      stale.cancel();
    };
  }, [client, queries]);

  return <LiveContext.Provider value={state}>{children}</LiveContext.Provider>;
}

export function useLiveState(): LiveState {
  return useContext(LiveContext);
}

/** Query keys an event makes stale, gathered for a moment and then invalidated together. */
class StaleKeys {
  private readonly keys = new Map<string, readonly unknown[]>();
  private all = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly queries: QueryClient) {}

  touch(item: EventStreamItem): void {
    switch (item.type) {
      case 'reset':
        this.everything();
        return;
      case 'run':
        this.add(['run', item.data.id], ['runs'], ['fleet'], ['service', item.data.service], ['approval', item.data.id], ['audit']);
        return;
      case 'stage':
        this.add(['run', item.data.runId], ['fleet'], ['runs']);
        return;
      case 'deployment':
        this.add(['fleet'], ['service', item.data.service], ['releases', item.data.service], ['deployments'], ['audit'], ['metrics']);
        return;
      case 'release':
        this.add(['releases', item.data.service], ['service', item.data.service]);
        return;
      case 'approval':
        this.add(['approval', item.data.runId], ['fleet'], ['audit']);
        return;
      case 'log':
      case 'ready':
        return;
      default:
        assertNever(item, 'live event');
    }
  }

  everything(): void {
    this.all = true;
    this.schedule();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private add(...keys: Array<readonly unknown[]>): void {
    for (const key of keys) this.keys.set(JSON.stringify(key), key);
    this.schedule();
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (this.all) void this.queries.invalidateQueries();
      else for (const key of this.keys.values()) void this.queries.invalidateQueries({ queryKey: key });
      this.all = false;
      this.keys.clear();
    }, COALESCE_MS);
  }
}
