// The Gitea (and Forgejo) reporter against the request Gitea's API documents for
// POST /repos/{owner}/{repo}/statuses/{sha} (a CreateStatusOption body) and its CommitStatus answer.

import { createStatusReporter } from '../../src/forges/gitea/status.ts';
import { statusReporterConformance } from './status-reporter-conformance.ts';

statusReporterConformance('gitea', {
  forge: 'gitea',
  create: createStatusReporter,
  apiPath: '/api/v1',
  repository: 'octo-org/hello-world',
  path: (sha) => `/repos/octo-org/hello-world/statuses/${sha}`,
  headers: (token) => ({ authorization: `token ${token}` }),
  states: { pending: 'pending', running: 'pending', success: 'success', failure: 'failure', error: 'error', cancelled: 'error' },
  body: (status, state) => ({ state, target_url: status.targetUrl, description: status.description, context: status.context }),
  accepted: (request) => ({
    id: 1,
    status: request.state,
    target_url: request.target_url,
    description: request.description,
    url: 'http://gitea.example.com/api/v1/repos/octo-org/hello-world/statuses/3f786850e387550fdab836ed7e6dc881de23001b',
    context: request.context,
    creator: { id: 2, login: 'slipway-bot', full_name: '', email: 'slipway-bot@noreply.gitea.example.com' },
    created_at: '2024-05-01T10:00:00Z',
    updated_at: '2024-05-01T10:00:00Z',
  }),
  error: (message) => ({ message, url: 'http://gitea.example.com/api/swagger' }),
});
