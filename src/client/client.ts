// The one typed client of Slipway's HTTP API. The CLI uses it today; the dashboard shares it.
// Errors from the server arrive as ApiError with the catalogue's code and message.

import type { ErrorCode } from '../core/errors.ts';
import type { LiveEvent, LiveEventMap } from '../events/bus.ts';
import type {
  ApiErrorBody,
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

export class SlipwayClient {
  private readonly base: string;

  constructor(baseUrl: string) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  private url(path: string, query: Query = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.toString();
    return `${this.base}/api${path}${search ? `?${search}` : ''}`;
  }

  private async request<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url(path, options.query), {
        method,
        headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      throw new ApiError('UNREACHABLE', `cannot reach the Slipway server at ${this.base} (${describeCause(error)}); is \`slipway up\` running?`, 0);
    }
    const text = await response.text();
    const body = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = (body as ApiErrorBody | undefined)?.error;
      throw new ApiError(error?.code ?? 'INTERNAL', error?.message ?? `HTTP ${response.status}`, response.status);
    }
    return body as T;
  }

  info(): Promise<ServerInfo> {
    return this.request('GET', '/info');
  }
  services(): Promise<ServiceOverview[]> {
    return this.request('GET', '/services');
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
  runs(query: { service?: string; status?: RunStatus[]; limit?: number } = {}): Promise<RunSummary[]> {
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

  /**
   * Live events (server-sent events), optionally for one run. Yields once the stream is open
   * with a `ready` marker first, so a caller can subscribe, then read the store, and miss nothing.
   */
  async *events(query: { run?: number } = {}, signal?: AbortSignal): AsyncGenerator<LiveEvent | { type: 'ready' }> {
    let response: Response;
    try {
      response = await fetch(this.url('/events', query), { headers: { accept: 'text/event-stream' }, signal });
    } catch (error) {
      if (signal?.aborted) return;
      throw new ApiError('UNREACHABLE', `cannot reach the Slipway server at ${this.base} (${describeCause(error)})`, 0);
    }
    if (!response.ok || !response.body) throw new ApiError('INTERNAL', `event stream answered HTTP ${response.status}`, response.status);
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let boundary: number;
        while ((boundary = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          const event = parseSseBlock(block);
          if (event) yield event;
        }
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }

  /** Registers a plain git repository for `slipway hook install`, handing out its hook token. */
  registerGitHook(repository: string): Promise<GitHookRegistration> {
    const body: RegisterGitHookBody = { repository };
    return this.request('POST', '/git-hooks', { body });
  }
}

function parseSseBlock(block: string): LiveEvent | { type: 'ready' } | null {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (type === 'ready') return { type: 'ready' };
  if (data.length === 0 || !isLiveEventType(type)) return null;
  return { type, data: JSON.parse(data.join('\n')) } as LiveEvent;
}

const LIVE_EVENT_TYPES: ReadonlySet<string> = new Set<keyof LiveEventMap>(['run', 'stage', 'log', 'release', 'deployment']);

function isLiveEventType(type: string): type is keyof LiveEventMap {
  return LIVE_EVENT_TYPES.has(type);
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(error);
}
