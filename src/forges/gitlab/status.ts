// Commit statuses on GitLab: POST /projects/:id/statuses/:sha, where :id is the project's
// URL-encoded full path ("group/sub/project" -> "group%2Fsub%2Fproject"), authenticated by a
// PRIVATE-TOKEN header. GitLab shows each `name` as an external job of the commit's pipeline.

import type { CommitState, CommitStatus, StatusReporter, StatusReporterSettings } from '../forge.ts';
import { answered, cut, jsonOf, postJson, statusApi, type StatusApi } from '../status-request.ts';

type GitLabState = 'pending' | 'running' | 'success' | 'failed' | 'canceled';

// GitLab has no separate error verdict: a run that could not reach one failed there.
const GITLAB_STATES = {
  pending: 'pending',
  running: 'running',
  success: 'success',
  failure: 'failed',
  error: 'failed',
  cancelled: 'canceled',
} as const satisfies Record<CommitState, GitLabState>;

/**
 * GitLab refuses to set a status that is already set ("Cannot transition status via :run from
 * :running"), with 400. The contract makes repeating a state harmless (a retry after a lost answer
 * does exactly that), so that answer counts as accepted.
 */
const ALREADY_IN_STATE = /^Cannot transition status via :\w+ from :(\w+)/;

export class GitLabStatusReporter implements StatusReporter {
  readonly forge = 'gitlab' as const;
  private readonly api: StatusApi;

  constructor(settings: StatusReporterSettings) {
    this.api = statusApi(this.forge, settings);
  }

  async report(status: CommitStatus, signal?: AbortSignal): Promise<void> {
    const state = GITLAB_STATES[status.state];
    const url = `${this.api.apiUrl}/projects/${encodeURIComponent(status.repository)}/statuses/${encodeURIComponent(status.sha)}`;
    const answer = await postJson(
      this.api,
      url,
      { 'private-token': this.api.token },
      { state, name: status.context, target_url: status.targetUrl, description: cut(status.description) },
      signal,
    );
    if (answer.ok) return;
    const message = messageOf(answer.text);
    if (answer.status === 400 && message !== null && ALREADY_IN_STATE.exec(message)?.[1] === state) return;
    throw answered(this.api, answer.status, message);
  }
}

export function createStatusReporter(settings: StatusReporterSettings | null): StatusReporter | null {
  return settings ? new GitLabStatusReporter(settings) : null;
}

/** GitLab answers { message } (a string, or the invalid fields) or, for a bad parameter, { error }. */
function messageOf(text: string): string | null {
  const body = jsonOf(text);
  if (typeof body !== 'object' || body === null) return null;
  if ('message' in body && body.message !== undefined) return typeof body.message === 'string' ? body.message : JSON.stringify(body.message);
  if ('error' in body && typeof body.error === 'string') return body.error;
  return null;
}
