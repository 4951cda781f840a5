// The one typed client of Slipway's HTTP API. The CLI uses it today; the dashboard shares it.
// Errors from the server arrive as ApiError with the catalogue's code and message.

import type { ErrorCode } from '../core/errors.ts';
import type { Fleet } from './fleet-api.ts';
import { LIVE_EVENT_TYPES } from '../core/types.ts';
import type { Preview } from '../core/previews.ts';
import type { LiveEvent, LiveEventMap } from '../events/bus.ts';
import type {
  ApiErrorBody,
  ApiTokenListing,
  IssuedApiToken,
  LoginBody,
  Me,
  NewTokenBody,
  NewUserBody,
  NotificationChannelListing,
  RefusalCounts,
  User,
  UserPatchBody,
  Delivery,
  DeliveryDetail,
  Deployment,
  GitHookRegistration,
  LogLine,
  RegisterGitHookBody,
  Release,
  Run,
  RunDetail,
  RunStatus,
  RunSummary,
  Schedule,
  ServerInfo,
  ServiceOverview,
  SetWebhookSecretBody,
  StartRunBody,
  WebhookSecretKey,
  WebhookStatus,
} from './api.ts';
import type {
  ApprovalState,
  AuditQuery,
  DecisionBody,
  DeliveryStarted,
  EnvironmentLock,
  EventRecord,
  KeyRotation,
  LockBody,
  PromoteBody,
  ReleasePlacement,
  RollbackBody,
  SecretEntry,
  SetSecretBody,
} from './delivery-api.ts';
import type { MetricsQuery, MetricsReport } from './metrics-api.ts';

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode | 'UNREACHABLE',
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Query = Record<string, string | number | undefined>;

/**
 * How one request goes out and its whole answer comes back; a failure to connect throws. fetch
 * unless the caller brings another: the CLI's node:http one (cli/transport.ts) starts faster.
 */
export type Transport = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text: string }>;

const fetchTransport: Transport = async (url, init) => {
  const response = await fetch(url, init);
  return { status: response.status, text: await response.text() };
};

export class SlipwayClient {
  private readonly base: string;

  /** `token`: sent as "Authorization: Bearer <token>" with every call but login. */
  constructor(
    baseUrl: string,
    private readonly token?: string,
    private readonly transport: Transport = fetchTransport,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  get baseUrl(): string {
    return this.base;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `Bearer ${this.token}` } : extra;
  }

  private url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return `${this.base}/api${path}${search ? `?${search}` : ''}`;
  }

  private async request<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    let answer: Awaited<ReturnType<Transport>>;
    try {
      answer = await this.transport(this.url(path, options.query), {
        method,
        headers: this.headers(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      throw new ApiError('UNREACHABLE', `cannot reach the Slipway server at ${this.base} (${describeCause(error)}); is \`slipway up\` running?`, 0);
    }
    const body = answer.text ? (JSON.parse(answer.text) as unknown) : undefined;
    if (answer.status < 200 || answer.status > 299) throw refusal(answer.status, body, `HTTP ${answer.status}`);
    return body as T;
  }

  info(): Promise<ServerInfo> {
    return this.request('GET', '/info');
  }
  services(): Promise<ServiceOverview[]> {
    return this.request('GET', '/services');
  }
  /** Every service in every environment: what serves, its health, what waits, drift. */
  fleet(): Promise<Fleet> {
    return this.request('GET', '/fleet');
  }
  service(name: string): Promise<ServiceOverview> {
    return this.request('GET', `/services/${encodeURIComponent(name)}`);
  }
  startRun(body: StartRunBody): Promise<RunDetail> {
    return this.request('POST', '/runs', { body });
  }
  /** Runs the pipeline again for a finished run: same commit, lane, variables and tag. */
  rerun(id: number): Promise<RunDetail> {
    return this.request('POST', `/runs/${id}/rerun`);
  }
  /** Runs a failed or cancelled run again from the stage where it stopped, reusing the stages that passed. */
  resume(id: number): Promise<RunDetail> {
    return this.request('POST', `/runs/${id}/resume`);
  }
  /** Newest first. */
  /** Newest first; `before`: only runs older than that run (the next page). */
  runs(query: { service?: string; status?: RunStatus[]; limit?: number; before?: number } = {}): Promise<RunSummary[]> {
    const { status, ...rest } = query;
    return this.request('GET', '/runs', { query: { ...rest, status: status?.join(',') } });
  }
  run(id: number): Promise<RunDetail> {
    return this.request('GET', `/runs/${id}`);
  }
  cancelRun(id: number): Promise<Run> {
    return this.request('POST', `/runs/${id}/cancel`);
  }
  logs(runId: number, query: { after?: number; stage?: number; limit?: number } = {}): Promise<LogLine[]> {
    return this.request('GET', `/runs/${runId}/logs`, { query });
  }
  releases(query: { service?: string; limit?: number } = {}): Promise<Release[]> {
    return this.request('GET', '/releases', { query });
  }
  deployments(query: { service?: string; environment?: string; limit?: number } = {}): Promise<Deployment[]> {
    return this.request('GET', '/deployments', { query });
  }

  /** Webhook deliveries, newest first, without their bodies. */
  deliveries(query: { limit?: number } = {}): Promise<Delivery[]> {
    return this.request('GET', '/deliveries', { query });
  }
  delivery(id: number): Promise<DeliveryDetail> {
    return this.request('GET', `/deliveries/${id}`);
  }
  /** Rejection counts, where webhook secrets are set (never the secrets), and the URL forges post to. */
  webhooks(): Promise<WebhookStatus> {
    return this.request('GET', '/webhooks');
  }
  setWebhookSecret(body: SetWebhookSecretBody): Promise<void> {
    return this.request('PUT', '/webhook-secrets', { body });
  }
  /** Removes a secret set through the API (NOT_FOUND when there is none; slipway.yml's stay). */
  removeWebhookSecret(body: WebhookSecretKey): Promise<void> {
    return this.request('DELETE', '/webhook-secrets', { body });
  }
  schedules(): Promise<Schedule[]> {
    return this.request('GET', '/schedules');
  }

  approval(runId: number): Promise<ApprovalState> {
    return this.request('GET', `/runs/${runId}/approval`);
  }
  approve(runId: number, body: DecisionBody = {}): Promise<ApprovalState> {
    return this.request('POST', `/runs/${runId}/approve`, { body });
  }
  reject(runId: number, body: DecisionBody): Promise<ApprovalState> {
    return this.request('POST', `/runs/${runId}/reject`, { body });
  }
  promote(service: string, body: PromoteBody): Promise<DeliveryStarted> {
    return this.request('POST', `/services/${encodeURIComponent(service)}/promote`, { body });
  }
  rollback(service: string, body: RollbackBody): Promise<DeliveryStarted> {
    return this.request('POST', `/services/${encodeURIComponent(service)}/rollback`, { body });
  }
  /** Newest first, with where each serves now and served before. */
  serviceReleases(service: string, query: { limit?: number } = {}): Promise<ReleasePlacement[]> {
    return this.request('GET', `/services/${encodeURIComponent(service)}/releases`, { query });
  }
  locks(): Promise<EnvironmentLock[]> {
    return this.request('GET', '/locks');
  }
  lock(body: LockBody): Promise<EnvironmentLock> {
    return this.request('POST', '/locks', { body });
  }
  unlock(environment: string, service?: string): Promise<EnvironmentLock> {
    return this.request('DELETE', `/locks/${encodeURIComponent(environment)}`, { query: { service } });
  }
  /** Names and when they changed; never values. */
  secrets(query: { environment?: string } = {}): Promise<SecretEntry[]> {
    return this.request('GET', '/secrets', { query });
  }
  setSecret(environment: string, name: string, body: SetSecretBody): Promise<SecretEntry> {
    return this.request('PUT', `/secrets/${encodeURIComponent(environment)}/${encodeURIComponent(name)}`, { body });
  }
  deleteSecret(environment: string, name: string, service?: string): Promise<void> {
    return this.request('DELETE', `/secrets/${encodeURIComponent(environment)}/${encodeURIComponent(name)}`, { query: { service } });
  }
  rotateSecretKey(): Promise<KeyRotation> {
    return this.request('POST', '/secrets/rotate-key');
  }
  /** Pull requests' previews, oldest first: the live ones, or (all) removed ones too. */
  previews(query: { all?: boolean; service?: string } = {}): Promise<Preview[]> {
    return this.request('GET', '/previews', { query: { all: query.all ? 1 : undefined, service: query.service } });
  }
  preview(id: number): Promise<Preview> {
    return this.request('GET', `/previews/${id}`);
  }
  removePreview(id: number, reason?: string): Promise<Preview> {
    return this.request('DELETE', `/previews/${id}`, { body: reason ? { reason } : {} });
  }
  /** Delivery metrics (DORA's four, per service and fleet) and run trends over a period: the last 30 days unless asked. */
  metrics(query: MetricsQuery = {}): Promise<MetricsReport> {
    return this.request('GET', '/metrics', { query: { ...query } });
  }

  /** The notification channels slipway.yml defines and how their sending goes (admins). */
  notificationChannels(): Promise<NotificationChannelListing[]> {
    return this.request('GET', '/notification-channels');
  }
  /** Newest first. */
  audit(query: AuditQuery = {}): Promise<EventRecord[]> {
    const { all, ...rest } = query;
    return this.request('GET', '/audit', { query: { ...rest, all: all ? 1 : undefined } });
  }

  /**
   * Live events (server-sent events), optionally for one run. Yields a `ready` marker first, once
   * the stream is open, so a caller can subscribe, then read the store, and miss nothing. When
   * the stream ends without `signal` aborting (the server cut this reader off for falling behind,
   * or restarted), it reconnects with the last event id: the events missed meanwhile follow, or,
   * when the server no longer has them, a `reset` marker, after which the caller re-reads from
   * the store what it shows. After a few failed reconnections in a row it throws UNREACHABLE.
   */
  async *events(query: { run?: number; types?: ReadonlyArray<keyof LiveEventMap> } = {}, signal?: AbortSignal): AsyncGenerator<EventStreamItem> {
    let lastEventId: string | undefined;
    let readySeen = false;
    for (let failures = 0; ; ) {
      let response: Response | null = null;
      try {
        const resume: Record<string, string> = lastEventId === undefined ? {} : { 'last-event-id': lastEventId };
        response = await fetch(this.url('/events', { run: query.run, types: query.types?.join(',') }), { headers: this.headers({ accept: 'text/event-stream', ...resume }), signal });
      } catch (error) {
        if (signal?.aborted) return;
        if (!readySeen) throw new ApiError('UNREACHABLE', `cannot reach the Slipway server at ${this.base} (${describeCause(error)})`, 0);
      }
      if (response) {
        if (!response.ok || !response.body) {
          throw refusal(response.status, await response.json().catch(() => undefined), `event stream answered HTTP ${response.status}`);
        }
        const blocks = sseBlocks(response.body);
        try {
          for (;;) {
            // A connection that breaks off is reconnected, as one the server ends.
            const next = await blocks.next().catch(() => null);
            if (!next || next.done) break;
            const message = parseSseBlock(next.value);
            const item = streamItemOf(message);
            if (message.id !== undefined) lastEventId = message.id;
            if (item?.type === 'ready') {
              failures = 0;
              // A reconnection is no news to the caller: it subscribed long ago.
              if (readySeen) continue;
              readySeen = true;
            }
            if (item) yield item;
          }
        } finally {
          await blocks.return(undefined);
        }
      }
      if (signal?.aborted) return;
      if (++failures > EVENT_STREAM_RECONNECTS) {
        throw new ApiError('UNREACHABLE', `lost the event stream from ${this.base}; ${EVENT_STREAM_RECONNECTS} reconnections in a row failed`, 0);
      }
      await sleep(EVENT_STREAM_BACKOFF_MS * 2 ** (failures - 1), signal);
    }
  }

  /** Exchanges a user's password for a new API token (no token needed). */
  login(body: LoginBody): Promise<IssuedApiToken> {
    return this.request('POST', '/login', { body });
  }
  me(): Promise<Me> {
    return this.request('GET', '/me');
  }
  users(): Promise<User[]> {
    return this.request('GET', '/users');
  }
  addUser(body: NewUserBody): Promise<User> {
    return this.request('POST', '/users', { body });
  }
  updateUser(name: string, body: UserPatchBody): Promise<User> {
    return this.request('PATCH', `/users/${encodeURIComponent(name)}`, { body });
  }
  removeUser(name: string): Promise<void> {
    return this.request('DELETE', `/users/${encodeURIComponent(name)}`);
  }
  /** The caller's tokens; admins may ask for one user's or everyone's. */
  tokens(query: { user?: string; all?: boolean } = {}): Promise<ApiTokenListing[]> {
    return this.request('GET', '/tokens', { query: { user: query.user, all: query.all ? 1 : undefined } });
  }
  createToken(body: NewTokenBody): Promise<IssuedApiToken> {
    return this.request('POST', '/tokens', { body });
  }
  revokeToken(id: number): Promise<void> {
    return this.request('DELETE', `/tokens/${id}`);
  }
  refusals(): Promise<RefusalCounts> {
    return this.request('GET', '/refusals');
  }

  /** Registers a plain git repository for `slipway hook install`, handing out its hook token. */
  registerGitHook(repository: string): Promise<GitHookRegistration> {
    const body: RegisterGitHookBody = { repository };
    return this.request('POST', '/git-hooks', { body });
  }
}

/** What events() yields: live events, and the `ready` and `reset` markers of the stream. */
export type EventStreamItem = LiveEvent | { type: 'ready' } | { type: 'reset' };

/** Tries after the stream is lost, waiting 250 ms, 0.5, 1, 2 and 4 s: a server restart fits. */
const EVENT_STREAM_RECONNECTS = 5;
const EVENT_STREAM_BACKOFF_MS = 250;

interface SseMessage {
  event: string;
  id: string | undefined;
  data: string | null;
}

/** The blocks of an SSE body, each without the blank line that ends it. */
async function* sseBlocks(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of chunksOf(body)) {
    // A boundary can straddle two chunks, so the search starts one character back.
    let searchFrom = Math.max(0, buffer.length - 1);
    buffer += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n', searchFrom)) >= 0) {
      yield buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      searchFrom = 0;
    }
  }
}

/** A stream's chunks through its reader: not every browser iterates a ReadableStream itself. */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

function parseSseBlock(block: string): SseMessage {
  const message: SseMessage = { event: 'message', id: undefined, data: null };
  for (const line of block.split('\n')) {
    const colon = line.indexOf(':');
    // A line starting with a colon is a comment (the server's keep-alive).
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') message.event = value;
    else if (field === 'id') message.id = value;
    else if (field === 'data') message.data = message.data === null ? value : `${message.data}\n${value}`;
  }
  return message;
}

function streamItemOf(message: SseMessage): EventStreamItem | null {
  if (message.event === 'ready' || message.event === 'reset') return { type: message.event };
  if (message.data === null || !isLiveEventType(message.event)) return null;
  return { type: message.event, data: JSON.parse(message.data) } as LiveEvent;
}

const LIVE_EVENT_TYPE_SET: ReadonlySet<string> = new Set(LIVE_EVENT_TYPES);

function isLiveEventType(type: string): type is keyof LiveEventMap {
  return LIVE_EVENT_TYPE_SET.has(type);
}

/** The server's error from the catalogue, or `fallback` when the answer holds none. */
function refusal(status: number, body: unknown, fallback: string): ApiError {
  const error = (body as ApiErrorBody | undefined)?.error;
  return new ApiError(error?.code ?? 'INTERNAL', error?.message ?? fallback, status);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** fetch wraps the socket's error as `cause`; node:http throws it as it is. */
function describeCause(error: unknown): string {
  const { cause, code } = error as { cause?: { code?: string; message?: string }; code?: string };
  return cause?.code ?? cause?.message ?? code ?? String(error);
}
