// HAProxy's configuration file, written from the declared routes and their backends. Pure: the
// router writes it after every change, so a reload or a restart of HAProxy itself (a reboot)
// loads the same routes and the same backends with the same weights.
//
// Names that reach the file are checked here, and treated as hostile: a service or environment
// name, a host name, a health path or an address that could end a line, start a comment or a
// quoted string, or a runtime API command (`;`) is refused with a RouterError.

import { isIP } from 'node:net';
import { join } from 'node:path';
import { RouterError, routeName, type Backend, type RouteAddress, type RouteKey, type RouteSpec } from '../router.ts';

export interface ProxySettings {
  /** Where haproxy.cfg, the sockets, the pid file, the log and routes.json live. */
  dir: string;
  /** Where the shared port and the routes' own ports listen. */
  address: string;
  /** The shared port: routes by host name. */
  port: number;
}

/** A backend as the config file keeps it: weight 0 is standby, SERVING_WEIGHT serving. */
export interface ServerEntry {
  id: string;
  address: string;
  weight: number;
}

export const SERVING_WEIGHT = 100;

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

/** Service and environment names (as slipway.yml allows them): one label of a host name. */
const LABEL = /^[a-z0-9][a-z0-9_-]*$/;
/** The names a route is called by inside its network: labels joined by dots. */
const HOST_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;
const BACKEND_ID = /^[A-Za-z0-9_-]+$/;
/** A path and query without spaces, quotes, `#` (a comment), `$`, `\` or `;`. */
const HEALTH_PATH = /^\/[A-Za-z0-9._~!&()*+,=:@%/?-]*$/;
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

/** Checks a whole declaration: names, health checks, networks, and that no two routes take one port or name. */
export function validateRoutes(routes: RouteSpec[], settings: Pick<ProxySettings, 'port'>): void {
  const keys = new Set<string>();
  const ports = new Map<number, string>([[settings.port, "the proxy's shared port"]]);
  const networks = new Map<string, string>();
  const internal = new Map<string, string>();
  for (const route of routes) {
    validateKey(route);
    const name = routeName(route);
    const key = backendName(route);
    if (keys.has(key)) throw new RouterError(`${name} is declared twice`);
    keys.add(key);
    checkPort(route.port, `the port of ${name}`);
    checkPort(route.servicePort, `the service port of ${name}`);
    const taken = ports.get(route.port);
    if (taken) throw new RouterError(`${name} cannot listen on port ${route.port}: ${taken} does`);
    ports.set(route.port, name);
    if (route.names.length === 0) throw new RouterError(`${name} has no names`);
    for (const host of route.names) if (!HOST_NAME.test(host)) throw new RouterError(`${name}: ${JSON.stringify(host)} is not a lower-case host name`);
    const { gateway, subnet } = route.network;
    if (isIP(gateway) === 0) throw new RouterError(`${name}: the network gateway ${JSON.stringify(gateway)} is not an IP address`);
    if (!isSubnet(subnet, isIP(gateway))) throw new RouterError(`${name}: the network subnet ${JSON.stringify(subnet)} is not a subnet of the gateway's address family`);
    const known = networks.get(gateway);
    if (known !== undefined && known !== subnet) throw new RouterError(`${name}: gateway ${gateway} is declared with subnets ${known} and ${subnet}`);
    networks.set(gateway, subnet);
    for (const host of route.names) {
      const at = `${host} on ${gateway}:${route.servicePort}`;
      const holder = internal.get(at);
      if (holder) throw new RouterError(`${name} and ${holder} are both called ${at}`);
      internal.set(at, name);
    }
    const { health } = route;
    if (!HEALTH_PATH.test(health.path)) throw new RouterError(`${name}: the health check path ${JSON.stringify(health.path)} must start with / and hold no spaces, quotes, #, $, \\ or ;`);
    for (const [field, value] of Object.entries({ intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, successes: health.successes, failures: health.failures })) {
      if (!Number.isInteger(value) || value < 1) throw new RouterError(`${name}: health ${field} must be a whole number of at least 1, not ${value}`);
    }
  }
}

export function validateKey(key: RouteKey): void {
  for (const [what, value] of [
    ['service', key.service],
    ['environment', key.environment],
  ] as const) {
    if (typeof value !== 'string' || !LABEL.test(value)) throw new RouterError(`${JSON.stringify(value)} is not a valid ${what} name for a route (lower-case letters, digits, '-' and '_')`);
  }
}

export function validateBackend(key: RouteKey, backend: Backend): void {
  validateId(key, backend.id);
  if (!parseAddress(backend.address)) throw new RouterError(`${routeName(key)}: backend ${backend.id}'s address ${JSON.stringify(backend.address)} is not <ip>:<port> ([<ipv6>]:<port>)`);
}

export function validateId(key: RouteKey, id: string): void {
  if (typeof id !== 'string' || !BACKEND_ID.test(id)) throw new RouterError(`${routeName(key)}: backend id ${JSON.stringify(id)} may hold only letters, digits, '-' and '_'`);
}

/** `1.2.3.4:80` or `[::1]:80`; null for anything else (host names included: dynamic servers do not resolve them). */
export function parseAddress(address: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(address);
  if (!match) return null;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  const family = isIP(host);
  if (family === 0 || (family === 6) !== (match[1] !== undefined) || port < 1 || port > 65535) return null;
  return { host, port };
}

export function joinAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The backend (and the runtime API's name) of a route: no label holds a dot, so it is unambiguous. */
export function backendName(key: RouteKey): string {
  return `${key.service}.${key.environment}`;
}

/** The other way round, for what a running HAProxy reports; null for proxies that are no route's. */
export function keyOfBackend(name: string): RouteKey | null {
  const [service, environment, ...rest] = name.split('.');
  return service && environment && rest.length === 0 && LABEL.test(service) && LABEL.test(environment) ? { service, environment } : null;
}

export function routeAddress(settings: Pick<ProxySettings, 'address' | 'port'>, route: RouteSpec): RouteAddress {
  // A wildcard address is reached on loopback.
  const host = settings.address === '0.0.0.0' ? '127.0.0.1' : settings.address === '::' ? '::1' : settings.address;
  return {
    url: `http://${route.service}.${route.environment}.localhost:${settings.port}`,
    portUrl: `http://${joinAddress(host, route.port)}`,
    internalUrl: `http://${route.names[0]}:${route.servicePort}`,
  };
}

/** A server's health check, from the route's. */
function checkArgs(route: RouteSpec): string {
  const { health } = route;
  return `check inter ${health.intervalMs} rise ${health.successes} fall ${health.failures}`;
}

/** `add server`'s arguments: a dynamic server takes nothing from the backend's `default-server`. */
export function addServerArgs(route: RouteSpec, server: ServerEntry): string {
  return `${server.address} ${checkArgs(route)} weight ${server.weight}`;
}

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
    const { subnet } = group[0]!.network;
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
      `  option httpchk GET ${route.health.path}`,
      '  http-check expect status 200-399',
      `  timeout check ${route.health.timeoutMs}`,
      // For the servers of this file (after a reload or a restart); a change of it is a reload.
      `  default-server ${checkArgs(route)}`,
      // Replaying a request the server may have acted on is only safe for these methods.
      '  http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS',
      ...[...(servers.get(name)?.values() ?? [])].map((server) => `${SERVER_LINE}${server.id} ${server.address} weight ${server.weight}`),
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
    const server = /^ {2}server (\S+) (\S+) weight (\d+)$/.exec(line);
    if (backend && server) {
      const [, id, address, weight] = server as unknown as [string, string, string, string];
      const entries = servers.get(backend) ?? new Map<string, ServerEntry>();
      entries.set(id, { id, address, weight: Number(weight) });
      servers.set(backend, entries);
    }
  }
  return servers;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RouterError(`${what} must be a port number (1-65535), not ${port}`);
}

function isSubnet(subnet: string, family: number): boolean {
  const [address, prefix, ...rest] = subnet.split('/');
  if (rest.length > 0 || !address || !prefix || !/^\d{1,3}$/.test(prefix) || isIP(address) !== family) return false;
  return Number(prefix) <= (family === 6 ? 128 : 32);
}
