// A continuous client for zero-downtime tests: loops of back-to-back requests on keep-alive
// connections, one long keep-alive connection, one WebSocket, and optionally slow requests that
// stay in flight across a switch. It counts every failure (an error, no answer within 5 s, a
// non-2xx answer, a missing echo) and which release answered, so a test can see traffic move
// between releases without a single request lost. Every round trip (a request, a WebSocket's
// opening handshake, an echo) gets the same 5 s before it counts as failed: on a machine busy
// with other test files a WebSocket can take longer than 2 s to open through the proxy, as a
// request can, without anything having failed.

import http from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

const REQUEST_TIMEOUT_MS = 5000;
const KEEP_ALIVE_EVERY_MS = 100;
const WEBSOCKET_EVERY_MS = 100;
const ECHO_TIMEOUT_MS = REQUEST_TIMEOUT_MS;
const RECONNECT_TIMEOUT_MS = REQUEST_TIMEOUT_MS;
/** A 1006 this soon after a 1001 ("going away") is part of the server leaving. */
const GOING_AWAY_MS = 2000;
const RECONNECT_PAUSE_MS = 50;
const KEPT_FAILURES = 50;
const BODY_SNIPPET = 200;

export interface TrafficOptions {
  /** What the loops GET, e.g. the service's stable address. */
  url: string;
  /** Resolved against `url` (e.g. '/peer'); the loops alternate between the two. */
  peerPath?: string;
  clients?: number;
  /** Pause between one loop's requests. */
  pauseMs?: number;
  /** Starts a GET /slow?ms=`slowMs` this often, beside the loops. */
  slowEveryMs?: number;
  slowMs?: number;
  websocketUrl?: string;
  longKeepAlive?: boolean;
  /** Told each kept failure and each release change as they happen. */
  log?: (line: string) => void;
}

export type Channel = 'request' | 'keep-alive' | 'websocket';

export interface Failure {
  /** Date.now() when it was seen. */
  at: number;
  channel: Channel;
  url: string;
  status?: number;
  error?: string;
  body?: string;
}

export interface TrafficReport {
  /** Every request and WebSocket message sent, over all channels. */
  sent: number;
  /** Every failure over all channels; `failures` keeps the first 50. */
  failed: number;
  failures: Failure[];
  /** `connections` counts the TCP connections the one keep-alive client needed. */
  keepAlive: { sent: number; failed: number; connections: number };
  /** `closes` holds the close codes of connections that had opened; `reconnects`, the opens after the first. */
  websocket: { sent: number; echoed: number; failed: number; reconnects: number; closes: number[] };
  /** Answers per release, from JSON bodies and WebSocket echoes. */
  answeredBy: Record<string, number>;
  /**
   * The release answering HTTP requests, each time it changes. An answer to a request sent before
   * the latest change's is ignored, so requests in flight across a switch do not flap it back.
   * WebSocket echoes are left out: a WebSocket stays with the release it opened on.
   */
  releaseChanges: { at: number; release: string }[];
}

export interface Traffic {
  snapshot(): TrafficReport;
  /** Stops sending, waits for what is in flight, closes every connection; the final report. */
  stop(): Promise<TrafficReport>;
}

export function startTraffic(options: TrafficOptions): Traffic {
  const { clients = 4, pauseMs = 1, longKeepAlive = true, slowMs = 1000 } = options;
  const recorder = new Recorder(options.log);
  const controller = new AbortController();
  const signal = controller.signal;
  const base = new URL(options.url);
  const urls = options.peerPath ? [base, new URL(options.peerPath, base)] : [base];

  const loopAgent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const slowAgent = new http.Agent({ keepAlive: true });
  const keepAliveAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const running: Promise<void>[] = [];
  const slowInFlight = new Set<Promise<void>>();

  for (let client = 0; client < clients; client++) {
    running.push(
      (async () => {
        for (let turn = client; !signal.aborted; turn++) {
          await send(recorder, 'request', urls[turn % urls.length]!, loopAgent);
          await pause(pauseMs, signal);
        }
      })(),
    );
  }
  if (longKeepAlive) {
    const seen = new WeakSet<Socket>();
    const connected = () => recorder.report.keepAlive.connections++;
    // Counts connections made, not attempts a refused connect ended.
    const onSocket = (socket: Socket) => {
      if (seen.has(socket)) return;
      seen.add(socket);
      if (socket.connecting) socket.once('connect', connected);
      else connected();
    };
    running.push(
      (async () => {
        while (!signal.aborted) {
          await send(recorder, 'keep-alive', base, keepAliveAgent, onSocket);
          await pause(KEEP_ALIVE_EVERY_MS, signal);
        }
      })(),
    );
  }
  if (options.slowEveryMs !== undefined) {
    const slowUrl = new URL(`/slow?ms=${slowMs}`, base);
    const every = options.slowEveryMs;
    running.push(
      (async () => {
        for (;;) {
          await pause(every, signal);
          if (signal.aborted) return;
          const request = send(recorder, 'request', slowUrl, slowAgent).finally(() => slowInFlight.delete(request));
          slowInFlight.add(request);
        }
      })(),
    );
  }
  const websocket = options.websocketUrl ? new WebSocketClient(options.websocketUrl, recorder) : null;

  let stopped: Promise<TrafficReport> | null = null;
  return {
    snapshot: () => recorder.copy(),
    stop: () => {
      stopped ??= (async () => {
        controller.abort();
        await Promise.all(running);
        await Promise.all(slowInFlight);
        await websocket?.stop();
        for (const agent of [loopAgent, slowAgent, keepAliveAgent]) agent.destroy();
        return recorder.copy();
      })();
      return stopped;
    },
  };
}

class Recorder {
  readonly report: TrafficReport = {
    sent: 0,
    failed: 0,
    failures: [],
    keepAlive: { sent: 0, failed: 0, connections: 0 },
    websocket: { sent: 0, echoed: 0, failed: 0, reconnects: 0, closes: [] },
    answeredBy: {},
    releaseChanges: [],
  };
  private sequence = 0;
  private current: { release: string; sequence: number } | null = null;

  constructor(private readonly log?: (line: string) => void) {}

  /** Counts one request or message sent; answers its sequence number. */
  sent(channel: Channel): number {
    this.report.sent++;
    if (channel !== 'request') this.sub(channel).sent++;
    return ++this.sequence;
  }

  fail(failure: Omit<Failure, 'at'>): void {
    this.report.failed++;
    if (failure.channel !== 'request') this.sub(failure.channel).failed++;
    if (this.report.failures.length >= KEPT_FAILURES) return;
    const kept = { at: Date.now(), ...failure };
    this.report.failures.push(kept);
    this.log?.(`traffic: ${kept.channel} ${kept.url} failed: ${kept.error ?? `HTTP ${kept.status} ${kept.body ?? ''}`}`);
  }

  /** `sequence` is the answered request's, or null for a WebSocket echo (not in the timeline). */
  answered(release: string, sequence: number | null): void {
    this.report.answeredBy[release] = (this.report.answeredBy[release] ?? 0) + 1;
    if (sequence === null) return;
    if (this.current?.release === release) {
      this.current.sequence = Math.max(this.current.sequence, sequence);
    } else if (!this.current || sequence > this.current.sequence) {
      this.current = { release, sequence };
      this.report.releaseChanges.push({ at: Date.now(), release });
      this.log?.(`traffic: now answered by ${release}`);
    }
  }

  copy(): TrafficReport {
    return structuredClone(this.report);
  }

  private sub(channel: 'keep-alive' | 'websocket') {
    return channel === 'keep-alive' ? this.report.keepAlive : this.report.websocket;
  }
}

interface Answer {
  status?: number;
  body: string;
  error?: string;
}

/** One GET, recorded as an answer or a failure. */
async function send(recorder: Recorder, channel: Channel, url: URL, agent: http.Agent, onSocket?: (socket: Socket) => void): Promise<void> {
  const sequence = recorder.sent(channel);
  const answer = await get(url, agent, onSocket);
  if (answer.error === undefined && answer.status !== undefined && answer.status >= 200 && answer.status < 300) {
    const release = releaseOf(answer.body);
    if (release !== null) recorder.answered(release, sequence);
    return;
  }
  recorder.fail({ channel, url: url.href, status: answer.status, error: answer.error, body: answer.body.slice(0, BODY_SNIPPET) || undefined });
}

/** Never rejects: an error or a timeout is in the answer. */
function get(url: URL, agent: http.Agent, onSocket?: (socket: Socket) => void): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    let status: number | undefined;
    const chunks: Buffer[] = [];
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, body: Buffer.concat(chunks).toString(), error });
    };
    const request = http.get(url, { agent }, (response) => {
      status = response.statusCode;
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => finish());
      // An answer cut short also ends in 'close', which reports it.
      response.on('error', () => {});
      response.on('close', () => finish(response.complete ? undefined : 'the connection closed before the answer ended'));
    });
    if (onSocket) request.on('socket', onSocket);
    request.on('error', (error) => finish(error.message));
    const timer = setTimeout(() => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
  });
}

function releaseOf(body: string): string | null {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'release' in parsed && typeof parsed.release === 'string') return parsed.release;
  } catch {
    // Not JSON: no release to count.
  }
  return null;
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted: stopping.
  }
}

/**
 * One WebSocket sending a message every 100 ms and expecting each echo within 5 s. A close with
 * 1001 (the server going away at its retirement), or a 1006 soon after one, is expected: it
 * reconnects, and only not reconnecting within 5 s is a failure. Any other close is a failure,
 * and it reconnects too, to keep measuring.
 */
class WebSocketClient {
  private socket: WebSocket | null = null;
  private sender: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  /** Messages awaiting their echo, with when they were sent. */
  private readonly pending = new Map<string, number>();
  private counter = 0;
  private opens = 0;
  private lastGoingAway = -Infinity;
  private stopping = false;
  private drained: (() => void) | null = null;
  private readonly stats: TrafficReport['websocket'];

  constructor(
    private readonly url: string,
    private readonly recorder: Recorder,
  ) {
    this.stats = recorder.report.websocket;
    this.armDeadline();
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSending();
    for (const timer of [this.retry, this.deadline]) if (timer) clearTimeout(timer);
    const socket = this.socket;
    if (socket?.readyState === WebSocket.OPEN && this.pending.size > 0) {
      const oldest = Math.min(...this.pending.values());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, oldest + ECHO_TIMEOUT_MS - Date.now()));
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const message of this.pending.keys()) this.recorder.fail({ channel: 'websocket', url: this.url, error: `no echo of ${message} within ${ECHO_TIMEOUT_MS} ms` });
    this.pending.clear();
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (socket.readyState === WebSocket.OPEN) socket.close(1000, 'traffic stopped');
    else socket.terminate();
    const cutOff = setTimeout(() => socket.terminate(), 1000);
    await closed;
    clearTimeout(cutOff);
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    let opened = false;
    socket.on('open', () => {
      opened = true;
      if (this.deadline) clearTimeout(this.deadline);
      this.deadline = null;
      if (this.opens++ > 0) this.stats.reconnects++;
      this.sender = setInterval(() => this.tick(socket), WEBSOCKET_EVERY_MS);
    });
    socket.on('message', (data) => this.echoed(String(data)));
    // A 'close' always follows; that is where it is handled.
    socket.on('error', () => {});
    socket.on('close', (code) => {
      this.stopSending();
      if (this.stopping) {
        // Leaving while stop() waits for echoes: going away accounts for them, anything else does not.
        if (code === 1001) this.pending.clear();
        this.drained?.();
        return;
      }
      if (opened) {
        this.stats.closes.push(code);
        if (code === 1001) this.lastGoingAway = Date.now();
        const expected = code === 1001 || (code === 1006 && Date.now() - this.lastGoingAway < GOING_AWAY_MS);
        if (!expected) this.recorder.fail({ channel: 'websocket', url: this.url, error: `closed with code ${code}` });
        // Messages still unanswered went out as the server left: the close accounts for them.
        this.pending.clear();
        this.armDeadline();
      }
      this.retry = setTimeout(() => {
        this.retry = null;
        this.connect();
      }, opened ? 0 : RECONNECT_PAUSE_MS);
    });
  }

  /** Unless a connection opens within 5 s, that is a failure (and again every 5 s). */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      this.recorder.fail({ channel: 'websocket', url: this.url, error: `no connection within ${RECONNECT_TIMEOUT_MS} ms` });
      this.armDeadline();
    }, RECONNECT_TIMEOUT_MS);
  }

  private tick(socket: WebSocket): void {
    const now = Date.now();
    for (const [message, sentAt] of this.pending) {
      if (now - sentAt < ECHO_TIMEOUT_MS) continue;
      this.pending.delete(message);
      this.recorder.fail({ channel: 'websocket', url: this.url, error: `no echo of ${message} within ${ECHO_TIMEOUT_MS} ms` });
    }
    const message = `m${++this.counter}`;
    this.pending.set(message, now);
    this.recorder.sent('websocket');
    socket.send(message);
  }

  private echoed(data: string): void {
    const colon = data.indexOf(':');
    const message = data.slice(colon + 1);
    if (colon < 0 || !this.pending.delete(message)) return;
    this.stats.echoed++;
    this.recorder.answered(data.slice(0, colon), null);
    if (this.drained && this.pending.size === 0) this.drained();
  }

  private stopSending(): void {
    if (this.sender) clearInterval(this.sender);
    this.sender = null;
  }
}
