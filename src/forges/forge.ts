// A Forge turns one webhook delivery into a Slipway event; its StatusReporter (status.ts in
// each forge's folder) tells the forge how a run at a commit went.
//
// Contract of parseWebhook (the conformance suite in test/unit/forge-conformance.ts checks it):
//   - Pure: no network, no clock, no store. Given the same input it gives the same answer.
//   - Works from the raw body bytes exactly as received; the signature covers those bytes.
//   - Finds the repository in the (not yet trusted) body, asks `secretFor(repository)` for
//     that repository's secret, and verifies the delivery the way the forge signs it
//     (GitHub: X-Hub-Signature-256 HMAC-SHA256; Gitea/Forgejo: X-Gitea-Signature HMAC-SHA256
//     hex; GitLab: X-Gitlab-Token equal to the secret). Comparisons are constant-time.
//   - Answers, in this order of precedence:
//       { kind: 'rejected', reason: 'unknown_repository' }  secretFor gave null
//       { kind: 'rejected', reason: 'bad_signature' }       missing or wrong signature/token
//       { kind: 'rejected', reason: 'malformed' }           not JSON, or lacking a field the event needs
//       { kind: 'ignored', ... }                            authentic, but nothing Slipway acts on
//       { kind: 'event', event }                            authentic and actionable
//     (A body too malformed to name a repository is 'malformed'.)
//   - Never throws.

export interface RepositoryRef {
  /** "owner/name" (GitLab: the full namespace path). */
  fullName: string;
  /** Every URL a service's `repo` may use for this repository (https clone, ssh clone, web). */
  urls: string[];
}

interface DeliveryInfo {
  /**
   * The forge's delivery id, used to answer a repeated delivery once. Where the forge sends no
   * id that stays the same across its retries, a digest of the body ("sha256:<hex>").
   */
  deliveryId: string;
  repository: RepositoryRef;
  /** Who caused it (login or username). */
  sender: string;
}

export type ForgeEvent =
  | (DeliveryInfo & {
      kind: 'push';
      branch: string;
      /**
       * 40 zeros when the branch was just created, and when a deletion does not say what the
       * branch pointed at (Gitea reports a branch deletion only as a `delete` event, without a sha).
       */
      before: string;
      /** 40 zeros when the branch was deleted. */
      after: string;
      created: boolean;
      deleted: boolean;
      /** False where the forge does not say (GitLab, Gitea). */
      forced: boolean;
      /** How many commits the push carried (0 for a push with no new commits). */
      commitCount: number;
    })
  | (DeliveryInfo & {
      kind: 'tag';
      tag: string;
      /**
       * The commit the tag names (for an annotated tag the commit, not the tag object); for a
       * deletion, what the tag pointed at.
       */
      sha: string;
      deleted: boolean;
    })
  | (DeliveryInfo & {
      kind: 'pull_request';
      number: number;
      action: 'opened' | 'reopened' | 'updated';
      headSha: string;
      headBranch: string;
      baseBranch: string;
      /** Clone URL of the head repository (differs from the base for a fork). */
      headRepositoryUrl: string;
    })
  | (DeliveryInfo & { kind: 'ping' });

export type WebhookResult =
  | { kind: 'event'; event: ForgeEvent }
  | { kind: 'ignored'; deliveryId: string; repository: RepositoryRef; reason: string }
  | { kind: 'rejected'; reason: 'unknown_repository' | 'bad_signature' | 'malformed'; message: string };

/** Header names are lower-case, as Node gives them. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

export const FORGE_NAMES = ['github', 'gitlab', 'gitea', 'git'] as const;
/** `git` is a plain repository whose post-receive hook notifies Slipway (no forge at all). */
export type ForgeName = (typeof FORGE_NAMES)[number];

export interface Forge {
  readonly name: ForgeName;
  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null): WebhookResult;
}

/** How a run at a commit stands, in Slipway's words; each reporter maps it to its forge's states. */
export type CommitState = 'pending' | 'running' | 'success' | 'failure' | 'error' | 'cancelled';

export interface CommitStatus {
  /** The repository's full name on the forge ("owner/name"; GitLab: the full namespace path). */
  repository: string;
  sha: string;
  state: CommitState;
  /** Names the check on the forge; one per service ("slipway/payment"). */
  context: string;
  /** One short sentence ("Run #12 failed at stage test"); forges cut it at 140 characters. */
  description: string;
  /** Where a person sees the run. */
  targetUrl: string;
}

/**
 * Sets a commit status on one forge.
 *
 * Contract (the conformance suite in test/unit/status-reporter-conformance.ts checks it against
 * a local HTTP server speaking each forge's documented API):
 *   - report() makes one request (no retries of its own: the caller retries with backoff) and
 *     resolves once the forge accepted the status.
 *   - It rejects with an Error whose message names the forge's HTTP status and its message
 *     (or the network error) when the forge did not accept it; it never hangs past `signal`.
 *   - Reporting the same state twice is harmless (forges keep the latest status per context).
 */
export interface StatusReporter {
  readonly forge: ForgeName;
  report(status: CommitStatus, signal?: AbortSignal): Promise<void>;
}

/** What a forge's status reporter needs, from the `forges:` section of slipway.yml. */
export interface StatusReporterSettings {
  /** The forge's API base, e.g. https://api.github.com, https://gitlab.example.com/api/v4. */
  apiUrl: string;
  token: string;
}
