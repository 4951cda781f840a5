// The HTTP API's response shapes, shared by the server, the CLI and (later) the dashboard.

import type { ApiToken, Delivery as DeliveryRecord, Deployment, EnvironmentLock, GateWait, LogLine, Release, Role, Run, RunStatus, Stage, User } from '../core/types.ts';
import type { RefusalReason } from '../auth/access.ts';
import type { Preview } from '../core/previews.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { ServiceAddress } from '../deployers/deployer.ts';
import type { ForgeName } from '../forges/forge.ts';
import type { ServiceParameters } from '../config/parameters.ts';
import type { SecretEntry } from '../triggers/secrets.ts';

export interface RunSummary extends Run {
  /** A pending run's place in its lane's line (1: next to start); null otherwise. */
  queuePosition: number | null;
}

export interface RunDetail extends RunSummary {
  stages: Stage[];
  /** A pull request's run with a preview stage: its pull request's preview as it stands now (null when there is none). */
  preview: Preview | null;
}

export interface EnvironmentState {
  environment: string;
  /** Where the service is reached there, whatever release serves; null where its target gives no address. */
  address: ServiceAddress | null;
  /** The deployment serving now (newest succeeded), if any. */
  current: Deployment | null;
  release: Release | null;
  /** Locks holding promotions into it for this service (its own, or every service's). */
  locks: EnvironmentLock[];
  /** Runs of this service waiting at its gate, oldest first: what for, until when. */
  waiting: Array<{ runId: number; wait: GateWait }>;
}

export interface ServiceOverview {
  name: string;
  repo: string;
  branch: string;
  lastRun: RunDetail | null;
  environments: EnvironmentState[];
  /** Its slipway.yml settings, secrets by name only. */
  parameters: ServiceParameters;
}

export interface ServerInfo {
  version: string;
  executor: string;
  /** How images are built, or why they cannot be. */
  builder: string;
  deployer: string;
  store: string;
  configFile: string;
  /** Plain-language remarks the user should see (e.g. "no container engine: ..."). */
  notices: string[];
}

export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export interface StartRunBody {
  service: string;
  ref?: string;
  /** Extra environment variables for every step of the run. */
  variables?: Record<string, string>;
}

export type { ApiToken, Deployment, LogLine, Release, Role, Run, RunStatus, Stage, User };

/** GET /api/me: who the token belongs to, and the token. */
export interface Me {
  user: User;
  token: ApiToken;
}

/** POST /api/login and POST /api/tokens (201): the token's value, shown this once, and how it is listed. */
export interface IssuedApiToken extends ApiToken {
  /** The value to send as "Authorization: Bearer <token>"; never shown again. */
  token: string;
  /** Whose token it is. */
  user: string;
}

/** GET /api/tokens: a token as listed, never its value. */
export interface ApiTokenListing extends ApiToken {
  user: string;
}

export interface LoginBody {
  user: string;
  password: string;
  /** What the new token is called ("laptop"); says where the login came from when omitted. */
  name?: string;
}

export interface NewUserBody {
  name: string;
  role: Role;
  /** At least 12 characters; without one the user works with tokens only. */
  password?: string;
  /** Where approval requests for them go. */
  email?: string;
}

export interface UserPatchBody {
  role?: Role;
  password?: string;
  /** Null removes it. */
  email?: string | null;
}

export interface NewTokenBody {
  name: string;
  /** Whose token (admins only); the caller's own when omitted. */
  user?: string;
}

/** GET /api/refusals (admin): refused API calls since the server started, by reason. */
export interface RefusalCounts {
  api: Partial<Record<RefusalReason, number>>;
}

export interface RegisterGitHookBody {
  /** The repository as services name it: the URL or path they clone it from. */
  repository: string;
}

/** The answer to POST /api/git-hooks (201): what a plain repository's post-receive hook needs. */
export interface GitHookRegistration {
  repository: string;
  /** The secret the hook sends in X-Slipway-Token. */
  token: string;
  /** Where the hook POSTs each ref update (the server's /hooks/git); absolute, or relative to the server's URL. */
  hookUrl: string;
  /** The services built from this repository (empty: the hook's pushes start nothing yet). */
  services: string[];
}

/**
 * A webhook delivery as GET /api/deliveries lists it: what arrived and what it led to. The raw
 * body, the headers and the parsed event stay on the server (GET /api/deliveries/:id has them).
 */
export type Delivery = Omit<DeliveryRecord, 'body' | 'headers' | 'parsed'>;

/** GET /api/deliveries/:id: the delivery with its headers (less any that carry a secret) and body. */
export interface DeliveryDetail extends Delivery {
  headers: Record<string, string>;
  /** The verified event as the forge adapter read it. */
  parsed: unknown;
  /** The body as received, as text. */
  body: string;
}

/** Where one webhook secret is set; the secret itself never leaves the server. */
export type { SecretEntry as WebhookSecretSource } from '../triggers/secrets.ts';

/** GET /api/webhooks. */
export interface WebhookStatus {
  /** Refused deliveries since the server started, by "<forge> <reason>", e.g. "github bad_signature". */
  rejections: Record<string, number>;
  secrets: SecretEntry[];
  /** Where forges send deliveries, with "<forge>" standing for the forge's name. */
  url: string;
}

/** PUT /api/webhook-secrets (204): replaces any secret the repository had. */
export interface SetWebhookSecretBody {
  forge: ForgeName;
  repository: string;
  /** At least 8 characters. */
  secret: string;
}

/** DELETE /api/webhook-secrets (204; 404 when no secret was set through the API). */
export interface WebhookSecretKey {
  forge: ForgeName;
  repository: string;
}

/** GET /api/schedules: each cron schedule with its next tick and the last tick acted on. */
export type { ScheduleDescription as Schedule } from '../triggers/schedules.ts';

export type { ForgeName };

/** GET /api/notification-channels (admin): each channel of slipway.yml and how its sending goes. */
export interface NotificationChannelListing {
  name: string;
  type: 'slack' | 'webhook' | 'email';
  /** Where it sends: hosts and addresses only, never a URL's secret path or a password. */
  target: string;
  events: string[];
  /** Null: every service (or environment). */
  services: string[] | null;
  environments: string[] | null;
  /** Of its most recent notifications (up to the last 500 of all channels'): how many are in each state. */
  recent: { sent: number; pending: number; failed: number };
  lastSentAt: string | null;
  /** The newest error, of a failed notification or an attempt still to be retried. */
  lastError: string | null;
}
