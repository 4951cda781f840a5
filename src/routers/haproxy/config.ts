// HAProxy's configuration file, written from the declared routes and their backends. Pure: the
// router writes it after every change, so a reload or a restart of HAProxy itself (a reboot)
// loads the same routes and the same backends with the same weights.
// Routes and backends reaching it were checked by ../routes.ts; the proxy's own settings are checked here.

import { isIP } from 'node:net';
import { join } from 'node:path';
import { RouterError, type RouteSpec } from '../router.ts';
import { backendName, checkPort, joinAddress } from '../routes.ts';

export interface ProxySettings {
  /** Where haproxy.cfg, the sockets, the pid file, the log and routes.json live. */
  dir: string;
  /** Where the shared port and the routes' own ports listen. */
  address: string;
  /** The shared port: routes by host name. */
  port: number;
}

/**
 * A backend as the config file keeps it: two HAProxy servers on one address. The server named by
 * its id is serving at SERVING_WEIGHT and on standby at weight 0. Its twin (fallbackName) is a
 * `backup` server: HAProxy sends requests to backup servers by itself, at once, when no serving
 * server of the backend is up; so a release standing by as the fallback takes the requests back
 * the moment the proxy finds the new one down, without waiting for anyone to switch. A server's
 * backup flag cannot change at run time, hence the twin, whose weight says whether it is one.
 *
 * Twins are never health-checked: HAProxy counts a server without checks as up. So a route always
 * has a server to send a request to, even when every checked one is down: a check that times out
 * on a starved host (three in a row take a serving instance out) says less than the answer the
 * instance gives a moment later, and a request that waits for it beats a 503 from the proxy. When
 * no previous release is named to fall back on, the serving backends' own twins are the backup
 * (the last resort, as load balancers fail open when no target passes its checks).
 */
export interface ServerEntry {
  id: string;
  address: string;
  weight: number;
  /** Its twin is at SERVING_WEIGHT: it takes requests while no serving server is up. */
  fallback: boolean;
}

export const SERVING_WEIGHT = 100;

/** The backup twin's name; ids hold no '.', so it cannot be another backend's id. */
export function fallbackName(id: string): string {
  return `${id}.fallback`;
}

/** The backend's id of a server name: its own, or its twin's. */
export function idOfServer(name: string): { id: string; twin: boolean } {
  return name.endsWith(FALLBACK) ? { id: name.slice(0, -FALLBACK.length), twin: true } : { id: name, twin: false };
}

const FALLBACK = '.fallback';

export function pathsOf(dir: string) {
  return {
    config: join(dir, 'haproxy.cfg'),
    routes: join(dir, 'routes.json'),
    pid: join(dir, 'haproxy.pid'),
    admin: join(dir, 'admin.sock'),
    master: join(dir, 'master.sock'),
    state: join(dir, 'servers.state'),
    log: join(dir, 'haproxy.log'),
  };
}

/** Paths go into the file unquoted. */
const SAFE_PATH = /^[A-Za-z0-9._/+-]+$/;
/** sun_path is 108 bytes. */
const MAX_SOCKET_PATH = 100;

export function validateSettings(settings: ProxySettings): void {
  if (!SAFE_PATH.test(settings.dir)) throw new RouterError(`the proxy's folder ${JSON.stringify(settings.dir)} may hold only letters, digits and . _ / + -`);
  if (pathsOf(settings.dir).master.length > MAX_SOCKET_PATH) throw new RouterError(`the proxy's folder ${settings.dir} is too long for a unix socket path`);
  if (isIP(settings.address) === 0) throw new RouterError(`the proxy's address ${JSON.stringify(settings.address)} is not an IP address`);
  checkPort(settings.port, "the proxy's shared port");
}

/** A server's health check, from the route's. */
function checkArgs(route: RouteSpec): string {
  const { health } = route;
  return `check inter ${health.intervalMs} rise ${health.successes} fall ${health.failures}`;
}

/** `add server`'s arguments, for a backend's server or its twin: a dynamic server takes nothing from the backend's `default-server`, so the twin has no check. */
export function addServerArgs(route: RouteSpec, server: ServerEntry, twin: boolean): string {
  return twin ? `${server.address} ${serverWeight(server, true)}` : `${server.address} ${checkArgs(route)} ${serverWeight(server, false)}`;
}

function serverWeight(server: ServerEntry, twin: boolean): string {
  return twin ? `weight ${server.fallback ? SERVING_WEIGHT : 0} backup` : `weight ${server.weight}`;
}

/** In the file, where `default-server` would give the twin a check. */
const UNCHECKED = ' no-check';

const SERVER_LINE = '  server ';

export function renderConfig(settings: ProxySettings, routes: RouteSpec[], servers: ReadonlyMap<string, ReadonlyMap<string, ServerEntry>>): string {
  const paths = pathsOf(settings.dir);
  const lines = [
    '# Written by Slipway (src/routers/haproxy) at every change of its routes or backends: edits are lost.',
    'global',
    // expose-fd listeners: a reload hands the listening sockets to the new worker, so none is refused.
    `  stats socket ${paths.admin} mode 600 level admin expose-fd listeners`,
    '  stats timeout 1m',
    // Health and admin states of the servers, written just before a reload for the new worker.
    `  server-state-file ${paths.state}`,
    // How long an old worker keeps its connections (WebSockets) after a reload.
    '  hard-stop-after 5m',
    'defaults',
    '  mode http',
    '  load-server-state-from-file global',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    '  timeout tunnel 1h',
    // After a reload the old worker answers an idle keep-alive connection's next request with
    // `Connection: close` instead of closing it under a client that may be sending one.
    '  option idle-close-on-response',
    '  option redispatch 1',
    '  retries 2',
    // Never on a 5xx: real errors reach the client and the error counters. Each backend allows
    // more than a failed connection only for GET, HEAD and OPTIONS; so such a request cut at a
    // removal is answered by a serving backend.
    '  retry-on conn-failure empty-response response-timeout',
    'frontend shared',
    `  bind ${joinAddress(settings.address, settings.port)}`,
    ...hostRouting(routes.map((route) => ({ backend: backendName(route), hosts: [`${route.service}.${route.environment}.localhost`] }))),
  ];
  for (const route of routes) {
    lines.push(`frontend port.${backendName(route)}`, `  bind ${joinAddress(settings.address, route.port)}`, `  default_backend ${backendName(route)}`);
  }
  for (const [bind, group] of groupByNetwork(routes)) {
    const { subnet } = group[0]!.network!;
    lines.push(
      `frontend net.${bind}`,
      // transparent: the gateway's address may not exist yet (Podman makes the bridge with its first container).
      `  bind ${bind} transparent`,
      `  tcp-request connection reject unless { src ${subnet} }`,
      ...hostRouting(group.map((route) => ({ backend: backendName(route), hosts: route.names }))),
    );
  }
  lines.push('backend no-route', '  http-request return status 404 content-type text/plain string "no route for this host name"');
  for (const route of routes) {
    const name = backendName(route);
    lines.push(
      `backend ${name}`,
      '  balance roundrobin',
      // Falling back, every instance of the previous release takes requests, not the first alone.
      '  option allbackups',
      `  option httpchk GET ${route.health.path}`,
      '  http-check expect status 200-399',
      `  timeout check ${route.health.timeoutMs}`,
      // For the servers of this file (after a reload or a restart); a change of it is a reload.
      `  default-server ${checkArgs(route)}`,
      // Replaying a request the server may have acted on is only safe for these methods.
      '  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS',
      ...[...(servers.get(name)?.values() ?? [])].flatMap((server) => [
        `${SERVER_LINE}${server.id} ${server.address} ${serverWeight(server, false)}`,
        `${SERVER_LINE}${fallbackName(server.id)} ${server.address} ${serverWeight(server, true)}${UNCHECKED}`,
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

function hostRouting(targets: Array<{ backend: string; hosts: string[] }>): string[] {
  return [
    // Host names are matched without their port and in lower case.
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    ...targets.map(({ backend, hosts }) => `  use_backend ${backend} if { var(txn.host) -m str ${hosts.join(' ')} }`),
    '  default_backend no-route',
  ];
}

/** Routes by the address their neighbours call them on: gateway and service port. */
function groupByNetwork(routes: RouteSpec[]): Map<string, RouteSpec[]> {
  const groups = new Map<string, RouteSpec[]>();
  for (const route of routes) {
    if (route.network === null) continue;
    const bind = joinAddress(route.network.gateway, route.servicePort);
    groups.set(bind, [...(groups.get(bind) ?? []), route]);
  }
  return groups;
}

/** The file without its server lines: what a reload changes (servers change at run time). */
export function structureOf(config: string): string {
  return config
    .split('\n')
    .filter((line) => !line.startsWith(SERVER_LINE))
    .join('\n');
}

/** The frontends and backends a config file declares. */
export function proxiesOf(config: string): string[] {
  return config.split('\n').flatMap((line) => /^(?:frontend|backend) (\S+)$/.exec(line)?.slice(1) ?? []);
}

/** The server lines of a file this module wrote, by backend: what a restart of HAProxy loads. */
export function serversOf(config: string): Map<string, Map<string, ServerEntry>> {
  const servers = new Map<string, Map<string, ServerEntry>>();
  let backend: string | null = null;
  for (const line of config.split('\n')) {
    const section = /^(\S+)(?: (\S+))?$/.exec(line);
    if (section) backend = section[1] === 'backend' ? (section[2] ?? null) : null;
    // A twin an older Slipway wrote has no `no-check`.
    const server = /^ {2}server (\S+) (\S+) weight (\d+)( backup)?(?: no-check)?$/.exec(line);
    if (backend && server) {
      const [, name, address, weight, backup] = server as unknown as [string, string, string, string, string | undefined];
      const { id, twin } = idOfServer(name);
      const entries = servers.get(backend) ?? new Map<string, ServerEntry>();
      const entry = entries.get(id) ?? { id, address, weight: 0, fallback: false };
      if (twin && backup) entry.fallback = Number(weight) > 0;
      else if (!twin) entry.weight = Number(weight);
      entries.set(id, entry);
      servers.set(backend, entries);
    }
  }
  return servers;
}
