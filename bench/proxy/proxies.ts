// The proxies the benchmark drives: HAProxy (runtime API) and Caddy (admin API) as child processes on free ports.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DRAIN_TIMEOUT_MS, HEALTH_INTERVAL_MS } from './model.ts';
import { type Upstream } from './upstreams.ts';

export interface Harness {
  version: string;
  calls: string;
  mainPort: number;
  otherPort: number;
  /** Gets `to` ready to take traffic without sending it any (HAProxy, the Slipway flow: add it, wait for its health check); ms it took, or null. */
  prepare(to: Upstream, index: number): Promise<number | null>;
  /** The switch: the service's traffic goes to `to`, away from `from`. */
  switchTo(to: Upstream, from: Upstream, index: number): Promise<void>;
  /** After a switch, in the background: remove what served before (HAProxy, the Slipway flow). */
  retire(from: Upstream, index: number): void;
  /** Waits for the background removals. */
  settle(): Promise<{ removed: number; drainedClean: number; sessionsShut: number; drainMs: number[]; failed: number } | null>;
  onSessionsShut: (at: number) => void;
  /** HAProxy: reloads the process (a new worker takes the listening sockets); ms until the new worker answers, and the servers' states before and after. */
  reload?: () => Promise<{ newWorkerMs: number; serversBefore: string; serversAfter: string }>;
  logTail(): string;
  stop(): Promise<void>;
}

export type Started = { ok: true; harness: Harness } | { ok: false; reason: string };

export async function startHaproxy(dir: string, a: Upstream, b: Upstream, mode: 'flip' | 'dynamic', children: Set<ChildProcess>): Promise<Started> {
  const version = versionOf('haproxy', ['-v']);
  if (!version.ok) return { ok: false, reason: `haproxy is not installed (${version.reason}); scripts/setup-host.sh installs it` };
  const [mainPort, otherPort] = [await freePort(), await freePort()];
  const socketPath = join(dir, 'admin.sock');
  const servers =
    mode === 'flip'
      ? [`  server a 127.0.0.1:${a.port}`, `  server b 127.0.0.1:${b.port} disabled`]
      : ['  # servers are added through the runtime API'];
  const config = [
    'global',
    // expose-fd listeners: a reload hands the listening sockets to the new worker (no refused connections).
    `  stats socket ${socketPath} mode 600 level admin expose-fd listeners`,
    '  stats timeout 1m',
    // What the runtime API changed, for the next worker: written from `show servers state` before a reload.
    `  server-state-file ${join(dir, 'servers.state')}`,
    // An old worker keeps its connections (WebSockets too) this long after a reload.
    '  hard-stop-after 10m',
    '  maxconn 4000',
    'defaults',
    '  mode http',
    '  load-server-state-from-file global',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 60s',
    '  timeout tunnel 1h',
    'frontend main',
    `  bind 127.0.0.1:${mainPort}`,
    '  default_backend main',
    'frontend other',
    `  bind 127.0.0.1:${otherPort}`,
    '  default_backend other',
    'backend main',
    '  balance roundrobin',
    '  option httpchk GET /healthz',
    ...servers,
    'backend other',
    `  server a 127.0.0.1:${a.port}`,
    '',
  ].join('\n');
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, config);
  // Master-worker in the foreground: SIGUSR2 to the master reloads.
  const child = startChild('haproxy', ['-W', '-db', '-f', configPath], dir, process.env, children);
  const cli = (command: string) => haproxyCommand(socketPath, command);
  const up = await child.until(async () => (await cli('show info')).includes('Pid:') && (await portOpen(mainPort)));
  if (!up) {
    await child.stop();
    return { ok: false, reason: `haproxy did not start: ${child.logTail()}` };
  }

  const name = (index: number) => `g${index}`;
  const removals: Promise<void>[] = [];
  const removed = { removed: 0, drainedClean: 0, sessionsShut: 0, drainMs: [] as number[], failed: 0 };
  const expectEmpty = async (command: string) => {
    const answer = (await cli(command)).trim();
    if (answer !== '') throw new Error(`haproxy answered "${answer}" to "${command}"`);
  };
  const harness: Harness = {
    version: version.text,
    calls:
      mode === 'flip'
        ? 'set server main/<new> state ready; set server main/<old> state drain'
        : `add server main/<new> <addr> check inter ${HEALTH_INTERVAL_MS} fall 2 rise 1; enable health main/<new>; set server main/<new> state drain; (health check passes); set server main/<new> state ready; set server main/<old> state drain; (sessions 0 or ${DRAIN_TIMEOUT_MS} ms); set server main/<old> state maint; [shutdown sessions server main/<old>;] del server main/<old>`,
    mainPort,
    otherPort,
    async prepare(to, index) {
      if (mode === 'flip') return null;
      const started = performance.now();
      const added = await cli(`add server main/${name(index)} 127.0.0.1:${to.port} check inter ${HEALTH_INTERVAL_MS} fall 2 rise 1`);
      if (!added.includes('New server registered')) throw new Error(`add server: ${added.trim()}`);
      // A new server is in maintenance. Drain: health checks run, no new traffic.
      await expectEmpty(`enable health main/${name(index)}`);
      await expectEmpty(`set server main/${name(index)} state drain`);
      for (;;) {
        const state = serverState(await cli('show servers state main'), name(index));
        if (state && state.opState === 2 && state.checkResult === CHECK_PASSED) break;
        if (performance.now() - started > 10_000) throw new Error(`server ${name(index)} not healthy after 10 s: ${JSON.stringify(state)}`);
        await sleep(10);
      }
      const readyMs = performance.now() - started;
      if (index === 0) await expectEmpty(`set server main/${name(index)} state ready`);
      return readyMs;
    },
    async switchTo(to, from, index) {
      const [next, previous] = mode === 'flip' ? [to.name, from.name] : [name(index), name(index - 1)];
      // One line, one connection: both changes take effect together.
      await expectEmpty(`set server main/${next} state ready; set server main/${previous} state drain`);
    },
    retire(_from, index) {
      if (mode === 'flip') return;
      const old = name(index - 1);
      removals.push(
        (async () => {
          const started = performance.now();
          let clean = false;
          for (;;) {
            if (sessionsOf(await cli('show stat'), 'main', old) === 0) {
              clean = true;
              break;
            }
            if (performance.now() - started >= DRAIN_TIMEOUT_MS) break;
            await sleep(50);
          }
          removed.drainMs.push(performance.now() - started);
          await expectEmpty(`set server main/${old} state maint`);
          if (!clean) {
            harness.onSessionsShut(performance.now());
            await expectEmpty(`shutdown sessions server main/${old}`);
            removed.sessionsShut++;
          } else removed.drainedClean++;
          // Deleting waits for the server's last connections (idle ones too) to be gone.
          for (let attempt = 0; attempt < 100; attempt++) {
            const answer = await cli(`del server main/${old}`);
            if (answer.includes('Server deleted')) {
              removed.removed++;
              return;
            }
            await sleep(50);
          }
          removed.failed++;
        })().catch(() => {
          removed.failed++;
        }),
      );
    },
    async settle() {
      if (mode === 'flip') return null;
      await Promise.all(removals);
      return removed;
    },
    onSessionsShut: () => undefined,
    ...(mode === 'flip'
      ? {
          async reload() {
            const pidOf = (info: string) => /^Pid: (\d+)/m.exec(info)?.[1] ?? null;
            const oldPid = pidOf(await cli('show info'));
            const state = await cli('show servers state');
            writeFileSync(join(dir, 'servers.state'), state);
            const serversBefore = describeServers(state);
            const started = performance.now();
            child.signal('SIGUSR2');
            for (;;) {
              const pid = await cli('show info').then(pidOf, () => null);
              if (pid !== null && pid !== oldPid) {
                const newWorkerMs = performance.now() - started;
                return { newWorkerMs, serversBefore, serversAfter: describeServers(await cli('show servers state')) };
              }
              if (performance.now() - started > 10_000) throw new Error(`no new haproxy worker 10 s after SIGUSR2: ${child.logTail()}`);
              await sleep(5);
            }
          },
        }
      : {}),
    logTail: () => child.logTail(),
    stop: () => child.stop(),
  };
  return { ok: true, harness };
}

export async function startCaddy(dir: string, a: Upstream, children: Set<ChildProcess>): Promise<Started> {
  const version = versionOf('caddy', ['version']);
  if (!version.ok) return { ok: false, reason: `caddy is not installed (${version.reason}); scripts/setup-host.sh installs it` };
  const [mainPort, otherPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const route = (port: number) => [{ handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${port}` }] }] }];
  const config = {
    admin: { listen: `127.0.0.1:${adminPort}`, config: { persist: false } },
    logging: { logs: { default: { level: 'WARN' } } },
    storage: { module: 'file_system', root: join(dir, 'data') },
    apps: {
      http: {
        servers: {
          main: { listen: [`127.0.0.1:${mainPort}`], automatic_https: { disable: true }, routes: route(a.port) },
          other: { listen: [`127.0.0.1:${otherPort}`], automatic_https: { disable: true }, routes: route(a.port) },
        },
      },
    },
  };
  const configPath = join(dir, 'caddy.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  // Its own HOME and XDG folders: Caddy writes nothing outside the temp folder.
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
  const child = startChild('caddy', ['run', '--config', configPath], dir, env, children);
  const admin = `http://127.0.0.1:${adminPort}`;
  const up = await child.until(async () => (await fetch(`${admin}/config/`)).ok && (await portOpen(mainPort)));
  if (!up) {
    await child.stop();
    return { ok: false, reason: `caddy did not start: ${child.logTail()}` };
  }
  const harness: Harness = {
    version: version.text,
    calls: 'PATCH /config/apps/http/servers/main/routes/0/handle/0/upstreams [{"dial":"<addr>"}] (Caddy loads the whole new config)',
    mainPort,
    otherPort,
    prepare: async () => null,
    async switchTo(to) {
      const response = await fetch(`${admin}/config/apps/http/servers/main/routes/0/handle/0/upstreams`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ dial: `127.0.0.1:${to.port}` }]),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`caddy answered ${response.status}: ${text}`);
    },
    retire: () => undefined,
    settle: async () => null,
    onSessionsShut: () => undefined,
    logTail: () => child.logTail(),
    stop: () => child.stop(),
  };
  return { ok: true, harness };
}

/** `show servers state` columns (HAProxy 2.6): srv_name is the 4th, srv_op_state the 6th, srv_check_result the 12th. */
export function serverState(text: string, server: string): { opState: number; adminState: number; checkResult: number } | null {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === server && !line.startsWith('#')) return { opState: Number(fields[5]), adminState: Number(fields[6]), checkResult: Number(fields[11]) };
  }
  return null;
}
/** `backend/server:state` for each server of `show servers state`, from srv_admin_state's bits (HAProxy 2.6: SRV_ADMF_MAINT 0x23, SRV_ADMF_DRAIN 0x18). */
export function describeServers(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (line.startsWith('#') || fields.length < 7) continue;
    const admin = Number(fields[6]);
    out.push(`${fields[1]}/${fields[3]}:${admin & 0x23 ? 'maint' : admin & 0x18 ? 'drain' : 'ready'}`);
  }
  return out.join(' ');
}

/** HAProxy's CHK_RES_PASSED. */
export const CHECK_PASSED = 3;

/** `show stat` CSV: the current sessions (scur) of one server. */
export function sessionsOf(csv: string, backend: string, server: string): number | null {
  const lines = csv.split('\n');
  const header = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const scur = header.indexOf('scur');
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields[0] === backend && fields[1] === server) return Number(fields[scur]);
  }
  return null;
}

/** One command (or several separated by `;`) on HAProxy's runtime API; the answer, up to the socket's end. */
export function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error(`haproxy runtime API: no answer to "${command}"`)));
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

export function versionOf(command: string, args: string[]): { ok: true; text: string } | { ok: false; reason: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return { ok: false, reason: (result.error as NodeJS.ErrnoException).code ?? result.error.message };
  const text = `${result.stdout}`.split('\n')[0]?.trim() ?? '';
  return result.status === 0 && text !== '' ? { ok: true, text } : { ok: false, reason: `${command} ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}` };
}

export interface Child {
  /** Polls `ready` for up to 10 s while the process lives; whether it became true. */
  until(ready: () => Promise<boolean>): Promise<boolean>;
  logTail(): string;
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export function startChild(command: string, args: string[], dir: string, env: NodeJS.ProcessEnv, children: Set<ChildProcess>): Child {
  const logPath = join(dir, `${command}.log`);
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', log, log] });
  closeSync(log);
  children.add(child);
  let exited = false;
  let spawnError: string | null = null;
  const exit = new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.on('error', (error) => {
      spawnError = error.message;
      resolve();
    });
  });
  void exit.then(() => {
    exited = true;
    children.delete(child);
  });
  const logTail = () => {
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
    } catch {
      // no log yet
    }
    const tail = text.trim().split('\n').slice(-5).join(' | ');
    return [spawnError, tail].filter(Boolean).join('; ') || '(no output)';
  };
  return {
    async until(ready) {
      const deadline = performance.now() + 10_000;
      while (!exited && performance.now() < deadline) {
        try {
          if (await ready()) return true;
        } catch {
          // not yet
        }
        await sleep(50);
      }
      return false;
    },
    logTail,
    signal(signal) {
      if (!exited) child.kill(signal);
    },
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exit.then(() => true), sleep(3000).then(() => false)]);
      if (!killed) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a frontend with no server yet answers 503). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

