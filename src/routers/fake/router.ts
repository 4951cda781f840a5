// An in-memory Router for engine tests: the contract without a proxy. A backend added is
// 'checking' until a test says otherwise (setHealth); its sessions and errors are what a test
// sets. Names, ids and addresses are checked by the same rules as the HAProxy router's, so what
// passes here is what HAProxy accepts.

import {
  RouterError,
  routeName,
  type Backend,
  type BackendHealth,
  type BackendState,
  type RemoveOutcome,
  type RouteAddress,
  type RouteKey,
  type RouteSpec,
  type Router,
} from '../router.ts';
import { backendName, routeAddress, validateBackend, validateId, validateRoutes } from '../routes.ts';

export interface FakeRouterOptions {
  /** The proxy's address and shared port its addresses name; 127.0.0.1:8080 unless given. */
  address?: string;
  port?: number;
}

const LAST_CHECK: Record<BackendHealth, string> = {
  up: 'L7OK/200 in 1ms',
  down: 'L4CON in 0ms: Connection refused',
  checking: 'not checked yet',
};

export class FakeRouter implements Router {
  readonly description = 'an in-memory router';
  private readonly settings: { address: string; port: number };
  private routes = new Map<string, RouteSpec>();
  private readonly backendsByRoute = new Map<string, Map<string, BackendState>>();
  private readonly removals = new Map<string, Promise<RemoveOutcome>>();
  /** Drains waiting for a backend's sessions to change. */
  private readonly waiters = new Set<() => void>();

  constructor(options: FakeRouterOptions = {}) {
    this.settings = { address: options.address ?? '127.0.0.1', port: options.port ?? 8080 };
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  async declare(routes: RouteSpec[]): Promise<void> {
    validateRoutes(routes, this.settings);
    this.routes = new Map(routes.map((route) => [backendName(route), route]));
    for (const name of this.backendsByRoute.keys()) if (!this.routes.has(name)) this.backendsByRoute.delete(name);
    this.wake();
  }

  address(key: RouteKey): RouteAddress | null {
    const route = this.routes.get(backendName(key));
    return route ? routeAddress(this.settings, route) : null;
  }

  async add(key: RouteKey, backend: Backend): Promise<void> {
    validateBackend(key, backend);
    const backends = this.declared(key);
    if (backends.has(backend.id)) throw new RouterError(`${routeName(key)} already has a backend ${backend.id}`);
    backends.set(backend.id, { id: backend.id, address: backend.address, mode: 'standby', health: 'checking', lastCheck: LAST_CHECK.checking, failing: false, sessions: 0, errors: 0 });
  }

  async serve(key: RouteKey, ids: string[], fallback: string[] = []): Promise<void> {
    const backends = this.declared(key);
    for (const id of [...ids, ...fallback]) {
      if (!backends.has(id)) throw new RouterError(`${routeName(key)} has no backend ${JSON.stringify(id)}`);
      if (this.removals.has(`${backendName(key)}/${id}`)) throw new RouterError(`${routeName(key)}: backend ${id} is being removed`);
    }
    for (const backend of backends.values()) backend.mode = ids.includes(backend.id) ? 'serving' : fallback.includes(backend.id) ? 'fallback' : 'standby';
  }

  async backends(key: RouteKey): Promise<BackendState[]> {
    return [...(this.backendsByRoute.get(backendName(key))?.values() ?? [])].map((backend) => ({ ...backend }));
  }

  async remove(key: RouteKey, id: string, drainMs: number, signal?: AbortSignal): Promise<RemoveOutcome> {
    validateId(key, id);
    const target = `${backendName(key)}/${id}`;
    const under = this.removals.get(target);
    if (under) return under;
    const backend = this.backendsByRoute.get(backendName(key))?.get(id);
    if (!backend) return { drained: true, cut: 0 };
    backend.mode = 'standby';
    const removal = this.drain(key, id, drainMs, signal).finally(() => this.removals.delete(target));
    this.removals.set(target, removal);
    return removal;
  }

  /** Test hook: what the proxy's health checks would have found. */
  setHealth(key: RouteKey, id: string, health: BackendHealth, lastCheck = LAST_CHECK[health]): void {
    Object.assign(this.backend(key, id), { health, lastCheck, failing: health === 'down' });
  }

  /** Test hook: errors the proxy saw from the backend. */
  addErrors(key: RouteKey, id: string, count: number): void {
    this.backend(key, id).errors += count;
  }

  /** Test hook: connections open to the backend; a drain waits for 0. */
  setSessions(key: RouteKey, id: string, sessions: number): void {
    this.backend(key, id).sessions = sessions;
    this.wake();
  }

  private async drain(key: RouteKey, id: string, drainMs: number, signal?: AbortSignal): Promise<RemoveOutcome> {
    const backends = () => this.backendsByRoute.get(backendName(key));
    await new Promise<void>((resolve) => {
      const check = () => {
        if ((backends()?.get(id)?.sessions ?? 0) > 0 && !signal?.aborted) return;
        done();
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, drainMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(check);
      check();
    });
    const cut = backends()?.get(id)?.sessions ?? 0;
    backends()?.delete(id);
    return { drained: cut === 0, cut };
  }

  private declared(key: RouteKey): Map<string, BackendState> {
    const name = backendName(key);
    if (!this.routes.has(name)) throw new RouterError(`${routeName(key)} is not declared`);
    const backends = this.backendsByRoute.get(name) ?? new Map<string, BackendState>();
    this.backendsByRoute.set(name, backends);
    return backends;
  }

  private backend(key: RouteKey, id: string): BackendState {
    const backend = this.backendsByRoute.get(backendName(key))?.get(id);
    if (!backend) throw new Error(`FakeRouter: ${routeName(key)} has no backend ${id}`);
    return backend;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
