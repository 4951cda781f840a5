// HAProxy's runtime API on its unix socket: one connection per line of commands, and what the
// router reads back from `show stat` and `show servers state` (HAProxy 2.6).

import { connect } from 'node:net';
import type { BackendHealth } from '../router.ts';
import { joinAddress, keyOfBackend } from '../routes.ts';
import { idOfServer, type ServerEntry } from './config.ts';

/** Backends by backend name, then id. */
export type Servers = Map<string, Map<string, ServerEntry>>;

const ANSWER_TIMEOUT_MS = 10_000;

/** Sends one line (commands separated by `;` run in order on one connection) and answers what HAProxy wrote back. */
export function send(socketPath: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)));
    // Half-closed after the line: HAProxy answers and closes (the master CLI waits for it).
    socket.on('connect', () => socket.end(`${line}\n`));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

export class RuntimeApi {
  constructor(readonly socketPath: string) {}

  send(line: string): Promise<string> {
    return send(this.socketPath, line);
  }

  /** Runs commands that answer nothing when they succeed; the answer when one did not. */
  async quiet(commands: string[]): Promise<string | null> {
    const answer = (await this.send(commands.join('; '))).trim();
    return answer === '' ? null : answer;
  }

  async stats(): Promise<ServerStat[]> {
    return parseStat(await this.send('show stat'));
  }

  /** The frontends and backends it runs. */
  async proxies(): Promise<Set<string>> {
    const rows = (await this.send('show stat')).split('\n').slice(1);
    return new Set(rows.map((row) => row.split(',')[0] ?? '').filter((name) => name !== ''));
  }

  /**
   * The backends of routes it runs, each from its server and its backup twin; one in maintenance
   * (a removal cut short) as standby. `twinless` counts backends it runs without a twin (an
   * HAProxy started by an older Slipway): a reload from the file adds them.
   */
  async servers(): Promise<{ servers: Servers; twinless: number }> {
    const servers: Servers = new Map();
    const twins = new Set<string>();
    for (const server of parseServersState(await this.send('show servers state'))) {
      if (!keyOfBackend(server.backend)) continue;
      const { id, twin } = idOfServer(server.id);
      const entries = servers.get(server.backend) ?? new Map<string, ServerEntry>();
      const entry = entries.get(id) ?? { id, address: server.address, weight: 0, fallback: false };
      const weight = server.maintenance ? 0 : server.weight;
      if (twin) {
        entry.fallback = weight > 0;
        twins.add(`${server.backend}/${id}`);
      } else entry.weight = weight;
      entries.set(id, entry);
      servers.set(server.backend, entries);
    }
    const all = [...servers].flatMap(([backend, entries]) => [...entries.keys()].map((id) => `${backend}/${id}`));
    return { servers, twinless: all.filter((target) => !twins.has(target)).length };
  }

  /** The worker answering the socket; null when none does. */
  async workerPid(): Promise<number | null> {
    try {
      const pid = /^Pid: (\d+)/m.exec(await this.send('show info'))?.[1];
      return pid ? Number(pid) : null;
    } catch {
      return null;
    }
  }
}

/** A server's row of `show stat` (the FRONTEND and BACKEND rows are not servers). */
export interface ServerStat {
  backend: string;
  server: string;
  /** Current sessions. */
  sessions: number;
  health: BackendHealth;
  lastCheck: string;
  failing: boolean;
  /** 5xx answers, failed connections and broken responses, since HAProxy started counting (add, reload, restart). */
  errors: number;
}

/** `show stat` CSV: the servers' rows. */
export function parseStat(csv: string): ServerStat[] {
  const [head, ...rows] = csv.split('\n');
  const columns = (head ?? '').replace(/^#\s*/, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  const index = {
    scur: at('scur'),
    econ: at('econ'),
    eresp: at('eresp'),
    hrsp5xx: at('hrsp_5xx'),
    checkStatus: at('check_status'),
    checkCode: at('check_code'),
    checkDuration: at('check_duration'),
    lastChk: at('last_chk'),
    state: at('status'),
    type: at('type'),
  };
  const out: ServerStat[] = [];
  for (const row of rows) {
    const fields = row.split(',');
    // type 2 is a server.
    if (fields[index.type] !== '2') continue;
    const field = (i: number) => fields[i] ?? '';
    const number = (i: number) => Number(field(i)) || 0;
    const status = field(index.checkStatus).replace(/^\* /, '');
    out.push({
      backend: field(0),
      server: field(1),
      sessions: number(index.scur),
      health: healthOf(field(index.state), status),
      lastCheck: describeCheck(status, field(index.checkCode), field(index.checkDuration), field(index.lastChk)),
      failing: !NOT_FAILED.has(status),
      errors: number(index.hrsp5xx) + number(index.eresp) + number(index.econ),
    });
  }
  return out;
}

/** Statuses of a check that passed or has not run (HAProxy's check_status). */
const NOT_FAILED = new Set(['', 'UNK', 'INI', 'L4OK', 'L6OK', 'L7OK', 'L7OKC']);

/**
 * Up only once HAProxy's own state for the server says so ("UP", "UP 2/3" while going down,
 * "DRAIN"): its check counters pass `rise` a moment before the server joins the balancing, and a
 * switch in that moment would find no server to send requests to. Below that it is on its way up
 * ('checking') unless its last check failed.
 */
export function healthOf(state: string, checkStatus: string): BackendHealth {
  if (state.startsWith('UP') || state === 'DRAIN') return 'up';
  return NOT_FAILED.has(checkStatus) ? 'checking' : 'down';
}

/** "L7OK/200 in 1ms", "L4CON in 0ms: Connection refused", "not checked yet". */
export function describeCheck(status: string, code: string, duration: string, detail: string): string {
  if (status === '' || status === 'INI' || status === 'UNK') return 'not checked yet';
  const base = `${status}${code ? `/${code}` : ''}${duration ? ` in ${duration}ms` : ''}`;
  return NOT_FAILED.has(status) || !detail ? base : `${base}: ${detail}`;
}

/** One HAProxy server: a backend's own, or its twin (config.ts, idOfServer). */
export interface ServerState {
  backend: string;
  /** The server's name. */
  id: string;
  address: string;
  weight: number;
  /** Forced into maintenance: a removal was under way. */
  maintenance: boolean;
}

/** `show servers state` (format 1): srv_name is the 4th column, srv_addr the 5th, srv_admin_state the 7th, srv_uweight the 8th, srv_port the 19th. */
export function parseServersState(text: string): ServerState[] {
  const out: ServerState[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (line.startsWith('#') || fields.length < 19) continue;
    const [, backend, , id, address, , admin, weight] = fields as [string, string, string, string, string, string, string, string];
    out.push({ backend, id, address: joinAddress(address, Number(fields[18])), weight: Number(weight), maintenance: (Number(admin) & 0x01) !== 0 });
  }
  return out;
}
