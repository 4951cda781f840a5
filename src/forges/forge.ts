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
//   - Binds the delivery to that repository: every place the body names its repository (the
//     full name, the owner and short name, every clone, web and API URL, a merge request's
//     target, a pull request's base) must name the one whose secret verified it. A URL names
//     it when its path is the full name (case-insensitive, ".git" optional; under the forge's
//     path when `origin.webUrl` has one) and its host is the same as every other URL's, and
//     `origin.webUrl`'s when that is known. Services are matched on the URLs and the secret is
//     looked up by the full name, so without this a body signed with one repository's secret
//     could start another's services. A pull request's head repository (a fork) is not a name
//     of the repository; plain git names its repository once.
//   - Answers, in this order of precedence:
//       { kind: 'rejected', reason: 'unknown_repository' }  secretFor gave null
//       { kind: 'rejected', reason: 'bad_signature' }       missing or wrong signature/token
//       { kind: 'rejected', reason: 'repository_mismatch' } authentic, but it names another repository too
//       { kind: 'rejected', reason: 'malformed' }           not JSON, or lacking a field the event needs
//       { kind: 'ignored', ... }                            authentic, but nothing Slipway acts on
//       { kind: 'event', event }                            authentic and actionable
//     (A body too malformed to name a repository is 'malformed'.) Every rejection's message
//     says why; a mismatch names the field that disagrees.
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
      /** `closed` without merging, `merged` when its commits went into the base branch. */
      action: 'opened' | 'reopened' | 'updated' | 'closed' | 'merged';
      headSha: string;
      headBranch: string;
      baseBranch: string;
      /**
       * Clone URL of the head repository (differs from the base for a fork); null where the
       * forge no longer names it (GitHub's deleted fork, Gitea versions that leave it out).
       */
      headRepositoryUrl: string | null;
      /**
       * The head is another repository than the base: a fork, whose code and whose author the
       * base repository's owners do not vouch for. Told by the repositories' ids where the forge
       * gives both, else by their full names; a head the forge says nothing of counts as a fork.
       */
      fromFork: boolean;
    })
  | (DeliveryInfo & { kind: 'ping' });

export type RejectionReason = 'unknown_repository' | 'bad_signature' | 'repository_mismatch' | 'malformed';

export type WebhookResult =
  | { kind: 'event'; event: ForgeEvent }
  | { kind: 'ignored'; deliveryId: string; repository: RepositoryRef; reason: string }
  | { kind: 'rejected'; reason: RejectionReason; message: string };

/** What Slipway knows, from slipway.yml, of where a forge's deliveries come from. */
export interface ForgeOrigin {
  /**
   * The forge's web address (`forges.<name>.url`, or github.com and gitlab.com by default):
   * every URL a delivery names must be on its host. Null where none is known (a forge with no
   * address, plain git): the URLs then need only agree with each other.
   */
  webUrl: string | null;
}

/** Header names are lower-case, as Node gives them. */
export type WebhookHeaders = Record<string, string | string[] | undefined>;

export const FORGE_NAMES = ['github', 'gitlab', 'gitea', 'git'] as const;
/** `git` is a plain repository whose post-receive hook notifies Slipway (no forge at all). */
export type ForgeName = (typeof FORGE_NAMES)[number];

export interface Forge {
  readonly name: ForgeName;
  /** `origin` defaults to none known ({ webUrl: null }). */
  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null, origin?: ForgeOrigin): WebhookResult;
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
