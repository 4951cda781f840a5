// The Router is the reverse proxy in front of every deployed service: one stable address per
// service and environment, whatever release serves behind it.
//
// Contract:
//   - declare(routes) makes the proxy listen for exactly these routes (idempotent; the whole
//     set each time). A route keeps its addresses for as long as it is declared: its host name
//     on the proxy's shared port (`http://<service>.<environment>.localhost:<port>`), its own
//     port (`route.port`, chosen by the caller and stored, for clients that send no host name),
//     and, inside its environment's network, `http://<name>:<service port>` for each of its
//     names (the proxy listens on the network's gateway address; only that network's
//     containers are let in). A route without a network (a preview's, whose members call each
//     other directly on a network of their own) has only the first two. Declaring a route never changes its backends; a route no longer
//     declared loses them. A declaration that is refused (a name that is no lower-case host
//     name, two routes on one port or called by one name) changes nothing.
//   - A backend is one instance (a container) of a release. add() puts it on standby: health
//     checked, given no requests. serve(ids) moves new requests to exactly these backends and
//     puts every other backend of the route on standby, in one step: requests in flight,
//     keep-alive connections and WebSockets on a backend put on standby carry on. An id the
//     route already has is refused by add(); one it does not have, or one being removed, by serve().
//   - serve(ids, fallback) also names the backends to fall back on (the previous release): while
//     none of the serving ones is up, the proxy itself gives new requests to them (whatever their
//     own checks say), at the very check that takes the last serving one down, without waiting for
//     the caller to switch back. They return to standby once a serving one is up again. A
//     backend both serving and in `fallback` serves. With no fallback named, the serving backends
//     are their own last resort: while none of them is up, the proxy still gives them new
//     requests (it fails open) rather than refusing them, since checks time out on a starved
//     host while the instance still answers.
//   - remove() drains a backend (no new requests) until its sessions end or `drainMs` passes,
//     cuts what is left, and deletes it. A backend that is already gone is no error; a second
//     remove() of one being removed answers the first one's outcome; an abort of `signal` ends
//     the drain at once (what is left is cut, the backend deleted).
//   - backends() reports the proxy's own view: health, sessions, and the errors it saw from the
//     backend (5xx answers, failed connections, broken responses) since it was added. A route
//     that is not declared has none.
//   - The proxy outlives the Slipway process that started it: start() adopts one a previous
//     process left (its backends and weights intact) and stop() leaves it serving unless this
//     process started it for itself (tests). Every change is also written where a restart of
//     the proxy itself (a reboot) reads it back.
//   - Methods throw RouterError with a message that names the route and what failed.

export interface RouteKey {
  service: string;
  environment: string;
}

export interface HealthCheck {
  /** GET this path; 2xx and 3xx are healthy. */
  path: string;
  intervalMs: number;
  /** How long one check may take. */
  timeoutMs: number;
  /** Consecutive passes before a backend counts as up. */
  successes: number;
  /** Consecutive failures before a backend that was up counts as down. */
  failures: number;
}

export interface RouteSpec extends RouteKey {
  /** This route's own port on the proxy's address. */
  port: number;
  /** The port the service listens on in its containers, and the one its neighbours call it on. */
  servicePort: number;
  /** The names its environment's services call it by: the service name, then its aliases. */
  names: string[];
  /** The environment's container network: the proxy's address on it, and who may use that address; null: reached from outside only. */
  network: { gateway: string; subnet: string } | null;
  health: HealthCheck;
}

export interface RouteAddress {
  /** By host name on the proxy's shared port. */
  url: string;
  /** On the route's own port. */
  portUrl: string;
  /** From the environment's containers, by the service's name. */
  internalUrl: string;
}

export interface Backend {
  /** Unique within the route: letters, digits, '-' and '_'. */
  id: string;
  /** ip:port ([ipv6]:port) the proxy reaches the instance at; no host name. */
  address: string;
}

/** checking: not yet `successes` passes in a row since it was added (or went down), and its last check did not fail. */
export type BackendHealth = 'up' | 'down' | 'checking';

export interface BackendState extends Backend {
  /** serving: takes new requests; fallback: takes them while no serving backend is up; standby: takes none (added, or drained). */
  mode: 'serving' | 'fallback' | 'standby';
  health: BackendHealth;
  /** The last health check's result, for people ("L7OK/200 in 1ms", "L4CON in 0ms: Connection refused"). */
  lastCheck: string;
  /**
   * Its last health check failed. A backend that was up stays up until `failures` checks in a
   * row failed, so this is the earliest sign that it is going down.
   */
  failing: boolean;
  /** Connections open to it now (requests in flight, keep-alive tunnels, WebSockets). */
  sessions: number;
  /** 5xx answers, failed connections and broken responses since it was added. */
  errors: number;
}

export interface RemoveOutcome {
  /** True when its sessions ended by themselves before the drain timeout. */
  drained: boolean;
  /** Sessions cut at the timeout. */
  cut: number;
}

export interface Router {
  readonly description: string;
  /** Starts the proxy, or adopts the one a previous process left running. */
  start(): Promise<void>;
  declare(routes: RouteSpec[]): Promise<void>;
  /** The addresses of a declared route; null when it is not declared. */
  address(key: RouteKey): RouteAddress | null;
  add(key: RouteKey, backend: Backend): Promise<void>;
  serve(key: RouteKey, ids: string[], fallback?: string[]): Promise<void>;
  backends(key: RouteKey): Promise<BackendState[]>;
  remove(key: RouteKey, id: string, drainMs: number, signal?: AbortSignal): Promise<RemoveOutcome>;
  /** Stops the proxy if this process started it and was asked to own it; else leaves it serving. */
  stop(): Promise<void>;
}

export class RouterError extends Error {
  override name = 'RouterError';
}

export function routeName(key: RouteKey): string {
  return `${key.service} in ${key.environment}`;
}
