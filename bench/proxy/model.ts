// What the proxy benchmark measures and reports: its settings and result shapes (bench/proxy.ts).

export const SWITCHES = 20;
export const FAST_CLIENTS = 4;
export const SLOW_PER_SWITCH = 3;
export const SLOW_HOLD_MS = 500;
/** The slow requests are sent this long before the API call, so that they are in flight at it. */
export const SLOW_LEAD_MS = 150;
/** From one switch's API call to the next switch's preparation. */
export const SETTLE_MS = 1000;
export const PROBE_EVERY_MS = 100;
/** HAProxy, the Slipway flow: how long a drained server may keep sessions before they are shut. */
export const DRAIN_TIMEOUT_MS = 3000;
export const REQUEST_TIMEOUT_MS = 5000;
export const HEALTH_INTERVAL_MS = 200;

export type Variant = 'haproxy-flip' | 'haproxy-add-drain-del' | 'caddy-patch';

export interface Percentiles {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface Counted {
  sent: number;
  failed: number;
  /** Failures by what the client saw: an HTTP status, an error code, or "timeout". */
  failures: Record<string, number>;
}

export interface WebSocketCount {
  /** Messages sent and echoed back. */
  sent: number;
  answered: number;
  /** Connections closed by the other side while the benchmark still used them. */
  drops: number;
  /** Of those, within a second after a switch's API call. */
  dropsAtSwitch: number;
  /** Of those, within 200 ms after HAProxy was told to shut the sessions of a removed server. */
  dropsAtRemoval: number;
  reconnectFailures: number;
  /** The upstreams that answered, in order of first answer. */
  upstreams: string[];
}

export interface ProxyRun {
  variant: Variant;
  proxy: 'haproxy' | 'caddy';
  version: string;
  /** The API calls of one switch. */
  calls: string;
  latency: {
    requests: number;
    failed: number;
    direct: Percentiles;
    proxied: Percentiles;
    addedP50Ms: number;
    addedP99Ms: number;
    /** Through the proxy / direct. */
    ratioP50: number;
    ratioP99: number;
  };
  switching: {
    switches: number;
    durationMs: number;
    requests: Counted;
    /** Requests of 500 ms in flight at each API call. */
    slow: Counted & { answeredByOld: number; answeredByNew: number };
    /** One keep-alive connection sending a request every 100 ms; connections > 1 means it was dropped. */
    keepAlive: Counted & { connections: number };
    webSocket: WebSocketCount;
    /** A WebSocket to another service behind the same proxy, which no switch concerns. */
    bystanderWebSocket: WebSocketCount;
    /** The switch call itself (HAProxy: one runtime API line; Caddy: the PATCH until it answered). */
    apiMs: Percentiles;
    /** From the start of the API call to the first answer from the new upstream. */
    toNewUpstreamMs: Percentiles;
    /** Switches after which the new upstream answered nothing within a second. */
    newUpstreamNeverAnswered: number;
    /** Requests sent after the API call returned and answered by the old upstream anyway. */
    staleAnswers: number;
    /** The latest of those, sent this long after the call returned. */
    staleSentUpToMs: number;
    /** HAProxy, the Slipway flow: add server -> its health check passed, before each switch. */
    addToHealthyMs?: Percentiles;
    /** HAProxy, the Slipway flow: removals of drained servers. */
    removals?: { removed: number; drainedClean: number; sessionsShut: number; drainMs: Percentiles; failed: number };
  };
  reload?: ReloadResult;
}

/** HAProxy: a reload of the whole process (master-worker, SIGUSR2, listening sockets passed on) under the same load. */
export interface ReloadResult {
  /** From the signal to the new worker answering on the runtime API. */
  newWorkerMs: number;
  /** The servers' states as the runtime API set them, and as the new worker has them (through the server-state-file). */
  serversBefore: string;
  serversAfter: string;
  /** The window counted: the reload and 2 s after it. */
  windowMs: number;
  /** The 4 clients and the long keep-alive connection. */
  requests: Counted;
  /** New TCP connections the long keep-alive client had to open (the old worker closes idle keep-alive connections). */
  keepAliveConnectionsOpened: number;
  webSocketDrops: number;
  bystanderWebSocketDrops: number;
}

export interface SkippedRun {
  variant: Variant;
  proxy: 'haproxy' | 'caddy';
  skipped: string;
}

export interface ProxyResult {
  latencyRequests: number;
  switches: number;
  runs: Array<ProxyRun | SkippedRun>;
}
