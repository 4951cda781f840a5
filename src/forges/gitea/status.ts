// Commit statuses on Gitea and Forgejo (same API): POST /repos/{owner}/{repo}/statuses/{sha}
// with a CreateStatusOption body, authenticated by "Authorization: token <token>".

import type { CommitState, CommitStatus, StatusReporter, StatusReporterSettings } from '../forge.ts';
import { answered, cut, GITHUB_STATES, jsonOf, messageField, ownerAndName, postJson, statusApi, type StatusApi } from '../status-request.ts';

type GiteaState = 'pending' | 'success' | 'error' | 'failure' | 'warning';

// Gitea's states are GitHub's and a warning Slipway never sends, so it reports as GitHub does.
const GITEA_STATES = GITHUB_STATES satisfies Record<CommitState, GiteaState>;

export class GiteaStatusReporter implements StatusReporter {
  readonly forge = 'gitea' as const;
  private readonly api: StatusApi;

  constructor(settings: StatusReporterSettings) {
    this.api = statusApi(this.forge, settings);
  }

  async report(status: CommitStatus, signal?: AbortSignal): Promise<void> {
    const [owner, repo] = ownerAndName(this.forge, status.repository);
    const url = `${this.api.apiUrl}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${encodeURIComponent(status.sha)}`;
    const answer = await postJson(
      this.api,
      url,
      { authorization: `token ${this.api.token}` },
      { state: GITEA_STATES[status.state], target_url: status.targetUrl, description: cut(status.description), context: status.context },
      signal,
    );
    if (answer.ok) return;
    // Gitea's APIError body: { message, url }.
    throw answered(this.api, answer.status, messageField(jsonOf(answer.text)));
  }
}

export function createStatusReporter(settings: StatusReporterSettings | null): StatusReporter | null {
  return settings ? new GiteaStatusReporter(settings) : null;
}
