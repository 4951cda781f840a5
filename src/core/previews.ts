// A pull request's preview environment, as the store keeps it (previews/previews.ts makes and
// removes them). Its life: starting -> ready (serving) -> ... -> removing -> removed; a first
// start that fails leaves it failed (nothing serves) until a new commit or a removal.

export const PREVIEW_STATUSES = ['starting', 'ready', 'failed', 'removing', 'removed'] as const;
export type PreviewStatus = (typeof PREVIEW_STATUSES)[number];

/** The statuses of a preview that exists (or is being made): at most one per environment. */
export const LIVE_PREVIEW_STATUSES: readonly PreviewStatus[] = ['starting', 'ready', 'failed', 'removing'];

/** One container of a preview as it serves. */
export interface PreviewMember {
  name: string;
  kind: 'service' | 'infrastructure';
  image: string;
  /** Its release, for a service run from one; null for one built from a branch head, and infrastructure. */
  releaseId: number | null;
  /** Its address through the proxy, for a service with a port. */
  url: string | null;
}

export interface Preview {
  id: number;
  /** The service the pull request builds. */
  service: string;
  pullRequest: number;
  /** What its routes and containers are named by: `pr<number>-<service>`. */
  environment: string;
  status: PreviewStatus;
  /** Raised by each update (a new commit); its sandbox is `pv<id>-<generation>`, and updates compare-and-set on it. */
  generation: number;
  /** The sandbox that serves; null while none does. */
  sandboxId: string | null;
  members: PreviewMember[];
  /** The pull request's release that serves; null while none does. */
  releaseId: number | null;
  commitSha: string;
  /** The run that made or last updated it. */
  runId: number;
  /** The pull request's service through the proxy; null while nothing serves. */
  url: string | null;
  /** Why it failed or was removed. */
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  /** Removed after this without an update. */
  expiresAt: string;
  removedAt: string | null;
}

/** A preview's environment name: one host-name label, `pr12-payment`. */
export function previewEnvironment(service: string, pullRequest: number): string {
  return `pr${pullRequest}-${service}`;
}

/** The sandbox of one generation of a preview. */
export function previewSandboxId(previewId: number, generation: number): string {
  return `pv${previewId}-${generation}`;
}

/** The pull request a run's lane belongs to (`pr/<n>`); null for other lanes. */
export function pullRequestOfLane(lane: string): number | null {
  const match = /^pr\/(\d+)$/.exec(lane);
  return match ? Number(match[1]) : null;
}
