// Commit statuses on GitHub (and GitHub Enterprise Server, whose API is https://<host>/api/v3),
// through Octokit's REST client: POST /repos/{owner}/{repo}/statuses/{sha}.

import { Octokit } from '@octokit/rest';
import type { CommitStatus, StatusReporter, StatusReporterSettings } from '../forge.ts';
import { answered, cut, deadline, gaveUp, GITHUB_STATES, messageField, ownerAndName, statusApi, unreachable, type StatusApi } from '../status-request.ts';

// @octokit/rest writes failed requests to console.error; the caller decides what to log.
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * One request per report: @octokit/rest bundles no retry or throttling plugin (only request-log,
 * the endpoint methods and pagination), so the caller's backoff is the only retrying.
 */
export class GitHubStatusReporter implements StatusReporter {
  readonly forge = 'github' as const;
  private readonly octokit: InstanceType<typeof Octokit>;
  private readonly api: StatusApi;

  constructor(settings: StatusReporterSettings) {
    this.api = statusApi(this.forge, settings);
    this.octokit = new Octokit({ baseUrl: this.api.apiUrl, auth: settings.token, log: SILENT });
  }

  async report(status: CommitStatus, signal?: AbortSignal): Promise<void> {
    const [owner, repo] = ownerAndName(this.forge, status.repository);
    const request = deadline(signal);
    try {
      await this.octokit.rest.repos.createCommitStatus({
        owner,
        repo,
        sha: status.sha,
        state: GITHUB_STATES[status.state],
        target_url: status.targetUrl,
        description: cut(status.description),
        context: status.context,
        headers: { 'x-github-api-version': '2022-11-28' },
        request: { signal: request.signal },
      });
    } catch (error) {
      throw gaveUp(this.api, signal, request.timeout) ?? this.explain(error);
    }
  }

  private explain(error: unknown): Error {
    const failure = error as { status?: unknown; response?: { data?: unknown }; message?: unknown };
    // Octokit turns a network failure into a RequestError without a response. Its error body is
    // { message, documentation_url }.
    if (failure.response && typeof failure.status === 'number') return answered(this.api, failure.status, messageField(failure.response.data));
    return unreachable(this.api, String(failure.message ?? error));
  }
}

export function createStatusReporter(settings: StatusReporterSettings | null): StatusReporter | null {
  return settings ? new GitHubStatusReporter(settings) : null;
}
