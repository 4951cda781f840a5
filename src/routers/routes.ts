// The rules every Router holds a route and a backend to, and the addresses a route gets: shared
// by the adapters so the fake accepts exactly what HAProxy does. Names that reach a proxy's
// configuration are treated as hostile: one that could end a line, start a comment or a quoted
// string, or a runtime API command (`;`) is refused with a RouterError.

import { isIP } from 'node:net';
import { RouterError, routeName, type Backend, type RouteAddress, type RouteKey, type RouteSpec } from './router.ts';

/** Service and environment names (as slipway.yml allows them): one label of a host name. */
const LABEL = /^[a-z0-9][a-z0-9_-]*$/;
/** The names a route is called by inside its network: labels joined by dots. */
const HOST_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;
const BACKEND_ID = /^[A-Za-z0-9_-]+$/;
/** A path and query without spaces, quotes, `#` (a comment), `$`, `\` or `;`. */
const HEALTH_PATH = /^\/[A-Za-z0-9._~!&()*+,=:@%/?-]*$/;
/** Checks a whole declaration: names, health checks, networks, and that no two routes take one port or name. */
export function validateRoutes(routes: RouteSpec[], settings: { port: number }): void {
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
    if (route.network !== null) {
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

export function routeAddress(settings: { address: string; port: number }, route: RouteSpec): RouteAddress {
  // A wildcard address is reached on loopback.
  const host = settings.address === '0.0.0.0' ? '127.0.0.1' : settings.address === '::' ? '::1' : settings.address;
  return {
    url: `http://${route.service}.${route.environment}.localhost:${settings.port}`,
    portUrl: `http://${joinAddress(host, route.port)}`,
    internalUrl: `http://${route.names[0]}:${route.servicePort}`,
  };
}

export function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RouterError(`${what} must be a port number (1-65535), not ${port}`);
}

function isSubnet(subnet: string, family: number): boolean {
  const [address, prefix, ...rest] = subnet.split('/');
  if (rest.length > 0 || !address || !prefix || !/^\d{1,3}$/.test(prefix) || isIP(address) !== family) return false;
  return Number(prefix) <= (family === 6 ? 128 : 32);
}
