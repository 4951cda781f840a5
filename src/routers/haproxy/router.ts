// The Router on HAProxy 2.6 (docs/proxy.md: why HAProxy, and what was measured). Backends change
// through the runtime API, without a reload; only a change of the routes themselves (a frontend
// or a backend added or gone) reloads, which drops nothing (the listeners are handed over).
//
// Serving and standby are server weights (SERVING_WEIGHT and 0), not HAProxy's drain state,
// because a weight is what the config file can hold. Each backend is two servers on one address,
// the second a `backup` twin without checks whose weight makes it the fallback or the last resort
// (config.ts, ServerEntry): every change rewrites haproxy.cfg with each
// backend's server line and weight, so a reload or a restart of HAProxy (a reboot) comes back
// with the same backends in the same modes. Just before a reload the servers' health states go
// to the server-state file for the new worker; a fresh start empties that file, so a restart
// trusts only the config (HAProxy takes a server from it for up until its checks fail).
//
// A new server is held down until its own checks pass `successes` times in a row: HAProxy would
// otherwise count a server leaving maintenance as up before any check.
//
// Errors are HAProxy's counters of a server (5xx answers + failed connections + broken
// responses). A server added at run time starts at 0; what the old worker counted before a
// reload this router made is carried in memory and added, so an engine watching a bake sees no
// drop. A Slipway restart that adopts the proxy keeps HAProxy's counts; a restart of HAProxy
// itself starts them again from 0.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  RouterError,
  routeName,
  type Backend,
  type BackendState,
  type RemoveOutcome,
  type RouteAddress,
  type RouteKey,
  type RouteSpec,
  type Router,
} from '../router.ts';
import { backendName, joinAddress, routeAddress, validateBackend, validateId, validateRoutes } from '../routes.ts';
import { addServerArgs, fallbackName, pathsOf, proxiesOf, renderConfig, serversOf, SERVING_WEIGHT, structureOf, validateSettings, type ProxySettings, type ServerEntry } from './config.ts';
import { checkConfig, findRunning, isHaproxy, reloadProxy, startProxy, stopProxy, type ProxyProcess } from './process.ts';
import { RuntimeApi, type Servers } from './runtime.ts';

export interface HaproxyRouterOptions {
  /** For haproxy.cfg, routes.json, admin.sock, master.sock, haproxy.pid, servers.state and haproxy.log. */
  dir: string;
  /** Where the shared port and the routes' own ports listen, e.g. 127.0.0.1. */
  address: string;
  /** The shared port, routing by host name. */
  port: number;
  /** stop() stops HAProxy only when true (tests); otherwise it keeps serving for the next Slipway. */
  owned?: boolean;
  log?: (line: string) => void;
}

const DRAIN_POLL_MS = 50;
/** `del server` is refused while the server holds connections (idle ones too): tried this often, 50 ms apart. */
const DELETE_ATTEMPTS = 100;

export class HaproxyRouter implements Router {
  readonly description: string;
  private readonly settings: ProxySettings;
  private readonly paths: ReturnType<typeof pathsOf>;
  private readonly api: RuntimeApi;
  private readonly owned: boolean;
  private readonly log: (line: string) => void;
  /** Declared routes by backend name, in declaration order. */
  private routes = new Map<string, RouteSpec>();
  /** Backends by backend name, then id. */
  private servers: Servers = new Map();
  private readonly removals = new Map<string, Promise<RemoveOutcome>>();
  /** Errors counted by workers that a reload replaced, by `<backend>/<id>`. */
  private readonly carried = new Map<string, number>();
  /** The running HAProxy's config without server lines; null when unknown (the next declare reloads). */
  private loaded: string | null = null;
  private proxy: ProxyProcess | null = null;
  /** Changes run one at a time, so the file always holds what the runtime holds. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: HaproxyRouterOptions) {
    this.settings = { dir: options.dir, address: options.address, port: options.port };
    validateSettings(this.settings);
    this.paths = pathsOf(options.dir);
    this.api = new RuntimeApi(this.paths.admin);
    this.owned = options.owned ?? false;
    this.log = options.log ?? (() => {});
    this.description = `HAProxy on ${joinAddress(options.address, options.port)}`;
  }

  start(): Promise<void> {
    return this.exclusive(async () => {
      // Started again after HAProxy died under it: adopt or start anew, as at first.
      if (this.proxy && isHaproxy(this.proxy.pid)) return;
      mkdirSync(this.settings.dir, { recursive: true, mode: 0o700 });
      this.routes = routesById(this.readRoutes());
      const onDisk = readText(this.paths.config);
      const running = await findRunning(this.paths, this.api);
      if (running) {
        this.proxy = running;
        // The file is what it runs, unless a reload of it never happened (a crash between the two).
        const proxies = await this.api.proxies();
        this.loaded = onDisk !== null && proxiesOf(onDisk).every((name) => proxies.has(name)) ? structureOf(onDisk) : null;
        const adopted = await this.api.servers();
        this.servers = adopted.servers;
        // Backends without their twin: the next declare reloads from the file, which has them.
        if (adopted.twinless > 0) this.loaded = null;
        this.log(`adopted HAProxy (master pid ${running.pid}) with ${this.count()} backends`);
        return;
      }
      // A restart (a reboot): the backends of the last file, under the current settings.
      this.servers = onDisk === null ? new Map() : serversOf(onDisk);
      const text = this.render();
      writeAtomic(this.paths.config, text);
      writeFileSync(this.paths.state, '1\n', { mode: 0o600 });
      this.proxy = await startProxy(this.paths, this.api);
      this.loaded = structureOf(text);
      this.servers = (await this.api.servers()).servers;
      this.log(`started HAProxy (master pid ${this.proxy.pid}) with ${this.count()} backends`);
    });
  }

  async declare(routes: RouteSpec[]): Promise<void> {
    validateRoutes(routes, this.settings);
    return this.exclusive(async () => {
      this.requireStarted('declaring routes');
      const next = routesById(routes);
      // A route no longer declared takes its backends with it.
      const servers: Servers = new Map([...this.servers].filter(([name]) => next.has(name)));
      const text = renderConfig(this.settings, [...next.values()], servers);
      if (structureOf(text) !== this.loaded) {
        await this.reload(text);
        this.log(`reloaded HAProxy for ${routes.length} routes`);
      } else writeAtomic(this.paths.config, text);
      this.routes = next;
      this.servers = servers;
      writeAtomic(this.paths.routes, `${JSON.stringify(routes, null, 2)}\n`);
    });
  }

  address(key: RouteKey): RouteAddress | null {
    const route = this.routes.get(backendName(key));
    return route ? routeAddress(this.settings, route) : null;
  }

  async add(key: RouteKey, backend: Backend): Promise<void> {
    validateBackend(key, backend);
    return this.change(key, `adding backend ${backend.id} (${backend.address})`, async (name, route) => {
      const servers = this.servers.get(name) ?? new Map<string, ServerEntry>();
      if (servers.has(backend.id)) throw new RouterError(`${routeName(key)} already has a backend ${backend.id}`);
      const entry: ServerEntry = { id: backend.id, address: backend.address, weight: 0, fallback: false };
      const targets = targetsOf(name, backend.id);
      const added: string[] = [];
      try {
        for (const [index, target] of targets.entries()) {
          const answer = await this.api.send(`add server ${target} ${addServerArgs(route, entry, index === 1)}`);
          if (!answer.includes('New server registered')) throw new Error(answer.trim());
          added.push(target);
        }
        // A new server is in maintenance with its checks off: checks on, ready at weight 0, and
        // down until they pass `successes` times (leaving maintenance, HAProxy would call it up).
        // The twin has no checks (config.ts, ServerEntry): ready, it is up, at weight 0 unused.
        const [server, twin] = targets;
        const refused = await this.api.quiet([`enable health ${server}`, `set server ${server} state ready`, `set server ${server} health down`, `set server ${twin} state ready`]);
        if (refused) throw new Error(refused);
      } catch (error) {
        for (const target of added) await this.api.send(`del server ${target}`);
        throw error;
      }
      servers.set(backend.id, entry);
      this.servers.set(name, servers);
      for (const target of targets) this.carried.delete(target);
      this.persist();
    });
  }

  serve(key: RouteKey, ids: string[], fallback: string[] = []): Promise<void> {
    const what = `serving ${ids.join(', ') || 'no backend'}${fallback.length > 0 ? ` with ${fallback.join(', ')} to fall back on` : ''}`;
    return this.change(key, what, async (name) => {
      const servers = this.servers.get(name) ?? new Map<string, ServerEntry>();
      for (const id of [...ids, ...fallback]) {
        if (!servers.has(id)) throw new RouterError(`${routeName(key)} has no backend ${JSON.stringify(id)}`);
        if (this.removals.has(`${name}/${id}`)) throw new RouterError(`${routeName(key)}: backend ${id} is being removed`);
      }
      const wanted = new Set(ids);
      const fallingBack = new Set(fallback.filter((id) => !wanted.has(id)));
      // With nothing to fall back on, the serving backends are their own last resort (config.ts, ServerEntry).
      const backup = fallingBack.size > 0 ? fallingBack : wanted;
      const targets = [...servers.keys()].map((id) => ({ id, pair: targetsOf(name, id) }));
      const commands = [
        ...targets.flatMap(({ id, pair: [server, twin] }) => [...(wanted.has(id) ? raise(server) : []), ...(backup.has(id) ? raise(twin) : [])]),
        ...targets.flatMap(({ id, pair: [server, twin] }) => [...(wanted.has(id) ? [] : lower(server)), ...(backup.has(id) ? [] : lower(twin))]),
      ];
      if (commands.length === 0) return;
      const refused = await this.api.quiet(commands);
      if (refused) throw new Error(refused);
      for (const server of servers.values()) {
        server.weight = wanted.has(server.id) ? SERVING_WEIGHT : 0;
        server.fallback = backup.has(server.id);
      }
      this.persist();
    });
  }

  async backends(key: RouteKey): Promise<BackendState[]> {
    const name = backendName(key);
    const servers = this.routes.has(name) ? [...(this.servers.get(name)?.values() ?? [])] : [];
    if (servers.length === 0) return [];
    const stats = await this.api.stats().catch((error: unknown) => {
      throw new RouterError(`${routeName(key)}: reading HAProxy's statistics failed: ${messageOf(error)}`);
    });
    return servers.map((server) => {
      const targets = targetsOf(name, server.id);
      const [stat, twin] = targets.map((target) => stats.find((row) => `${row.backend}/${row.server}` === target));
      return {
        id: server.id,
        address: server.address,
        mode: server.weight > 0 ? 'serving' : server.fallback ? 'fallback' : 'standby',
        health: stat?.health ?? 'down',
        lastCheck: stat?.lastCheck ?? 'not in the running HAProxy',
        failing: stat?.failing ?? true,
        sessions: (stat?.sessions ?? 0) + (twin?.sessions ?? 0),
        errors: targets.reduce((sum, target) => sum + (this.carried.get(target) ?? 0), 0) + (stat?.errors ?? 0) + (twin?.errors ?? 0),
      };
    });
  }

  async remove(key: RouteKey, id: string, drainMs: number, signal?: AbortSignal): Promise<RemoveOutcome> {
    validateId(key, id);
    const name = backendName(key);
    const target = `${name}/${id}`;
    const under = this.removals.get(target);
    if (under) return under;
    if (!this.servers.get(name)?.has(id)) return { drained: true, cut: 0 };
    const removal = this.drainAndDelete(key, name, id, drainMs, signal).finally(() => this.removals.delete(target));
    this.removals.set(target, removal);
    return removal;
  }

  stop(): Promise<void> {
    return this.exclusive(async () => {
      const proxy = this.proxy;
      this.proxy = null;
      if (!proxy || !this.owned) return;
      await stopProxy(proxy);
      this.log(`stopped HAProxy (master pid ${proxy.pid})`);
    });
  }

  private async drainAndDelete(key: RouteKey, name: string, id: string, drainMs: number, signal?: AbortSignal): Promise<RemoveOutcome> {
    const targets = targetsOf(name, id);
    await this.change(key, `putting backend ${id} on standby to remove it`, async () => {
      const servers = this.servers.get(name);
      const server = servers?.get(id);
      if (!servers || !server || (server.weight === 0 && !server.fallback)) return;
      // The last backend to fall back on leaving: the serving ones become their own last resort.
      const others = [...servers.values()].filter((other) => other.id !== id);
      const resort = others.some((other) => other.fallback) ? [] : others.filter((other) => other.weight > 0);
      const refused = await this.api.quiet([...resort.flatMap((other) => raise(targetsOf(name, other.id)[1])), ...targets.flatMap(lower)]);
      if (refused) throw new Error(refused);
      server.weight = 0;
      server.fallback = false;
      for (const other of resort) other.fallback = true;
      this.persist();
    });
    const deadline = Date.now() + drainMs;
    try {
      while ((await this.sessionsOf(name, id)) > 0 && Date.now() < deadline && !signal?.aborted) {
        await sleep(Math.min(DRAIN_POLL_MS, Math.max(0, deadline - Date.now())), undefined, { signal }).catch(() => undefined);
      }
    } catch (error) {
      throw new RouterError(`${routeName(key)}: draining backend ${id} failed: ${messageOf(error)}`);
    }
    return this.change(key, `removing backend ${id}`, async () => {
      // A declare that dropped the route took the backend with it.
      if (!this.servers.get(name)?.has(id)) return { drained: true, cut: 0 };
      const refused = await this.api.quiet(targets.map((target) => `set server ${target} state maint`));
      if (refused && !isGone(refused)) throw new Error(refused);
      const cut = await this.sessionsOf(name, id);
      if (cut > 0) {
        const shut = await this.api.quiet(targets.map((target) => `shutdown sessions server ${target}`));
        if (shut && !isGone(shut)) throw new Error(shut);
      }
      for (const target of targets) {
        await this.deleteServer(target);
        this.carried.delete(target);
      }
      this.servers.get(name)?.delete(id);
      this.persist();
      return { drained: cut === 0, cut };
    });
  }

  private async deleteServer(target: string): Promise<void> {
    let answer = '';
    for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
      answer = (await this.api.send(`del server ${target}`)).trim();
      if (answer.includes('Server deleted') || isGone(answer)) return;
      await sleep(50);
    }
    throw new Error(`HAProxy kept refusing to delete it: ${answer}`);
  }

  /** Of the backend's server and its twin. */
  private async sessionsOf(name: string, id: string): Promise<number> {
    const targets = new Set(targetsOf(name, id));
    const stats = await this.api.stats();
    return stats.filter((row) => targets.has(`${row.backend}/${row.server}`)).reduce((sum, row) => sum + row.sessions, 0);
  }

  /** Writes the checked file, hands the servers' states to the new worker, reloads; puts the previous file back if HAProxy refused. */
  private async reload(text: string): Promise<void> {
    const proxy = this.requireStarted('reloading');
    const previous = this.render();
    await checkConfig(`${this.paths.config}.next`, text);
    const counted = await this.api.stats();
    writeFileSync(this.paths.state, await this.api.send('show servers state'), { mode: 0o600 });
    renameSync(`${this.paths.config}.next`, this.paths.config);
    try {
      await reloadProxy(proxy, this.paths, this.api);
    } catch (error) {
      writeAtomic(this.paths.config, previous);
      throw error;
    }
    for (const stat of counted) {
      const target = `${stat.backend}/${stat.server}`;
      this.carried.set(target, (this.carried.get(target) ?? 0) + stat.errors);
    }
    this.loaded = structureOf(text);
  }

  /** A change to one declared route: one at a time, and any failure a RouterError naming the route. */
  private change<T>(key: RouteKey, what: string, work: (name: string, route: RouteSpec) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const name = backendName(key);
      const route = this.routes.get(name);
      if (!route) throw new RouterError(`${routeName(key)} is not declared (${what})`);
      this.requireStarted(`${routeName(key)}: ${what}`);
      try {
        return await work(name, route);
      } catch (error) {
        if (error instanceof RouterError) throw error;
        throw new RouterError(`${routeName(key)}: ${what} failed: ${messageOf(error)}`);
      }
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private requireStarted(what: string): ProxyProcess {
    if (!this.proxy) throw new RouterError(`${what}: the proxy is not started`);
    return this.proxy;
  }

  private render(): string {
    return renderConfig(this.settings, [...this.routes.values()], this.servers);
  }

  private persist(): void {
    writeAtomic(this.paths.config, this.render());
  }

  private readRoutes(): RouteSpec[] {
    const text = readText(this.paths.routes);
    if (text === null) return [];
    try {
      const routes = JSON.parse(text) as RouteSpec[];
      validateRoutes(routes, this.settings);
      return routes;
    } catch (error) {
      throw new RouterError(`the proxy's routes in ${this.paths.routes} cannot be read: ${messageOf(error)}`);
    }
  }

  private count(): number {
    return [...this.servers.values()].reduce((sum, entries) => sum + entries.size, 0);
  }
}

// Every weight raised before any is lowered, in one line: HAProxy's other threads route requests
// between two commands, and must never find all of the route's weights at 0.
function raise(server: string): string[] {
  return [`set server ${server} state ready`, `set server ${server} weight ${SERVING_WEIGHT}`];
}

function lower(server: string): string[] {
  return [`set server ${server} weight 0`];
}

/** The runtime API's names of a backend's server and of its backup twin. */
function targetsOf(name: string, id: string): [string, string] {
  return [`${name}/${id}`, `${name}/${fallbackName(id)}`];
}

function routesById(routes: RouteSpec[]): Map<string, RouteSpec> {
  return new Map(routes.map((route) => [backendName(route), route]));
}

/** The runtime API's answer when the server (or its backend) is already gone. */
function isGone(answer: string): boolean {
  return /No such (server|backend)/i.test(answer);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** A reader (HAProxy starting at boot) never sees half a file. */
function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
