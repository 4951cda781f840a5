// The GitHub reporter against the request GitHub documents for "Create a commit status"
// (POST /repos/{owner}/{repo}/statuses/{sha}) and the answers it documents.

import { createStatusReporter } from '../../src/forges/github/status.ts';
import { statusReporterConformance } from './status-reporter-conformance.ts';

statusReporterConformance('github', {
  forge: 'github',
  create: createStatusReporter,
  // GitHub Enterprise Server's API base; api.github.com has none.
  apiPath: '/api/v3',
  repository: 'octo-org/hello-world',
  path: (sha) => `/repos/octo-org/hello-world/statuses/${sha}`,
  headers: (token) => ({
    authorization: `token ${token}`,
    accept: /^application\/vnd\.github(\.v3)?\+json$/,
    'x-github-api-version': '2022-11-28',
    'user-agent': /octokit/,
  }),
  states: { pending: 'pending', running: 'pending', success: 'success', failure: 'failure', error: 'error', cancelled: 'error' },
  body: (status, state) => ({ state, target_url: status.targetUrl, description: status.description, context: status.context }),
  accepted: (request) => ({
    url: 'https://api.github.com/repos/octo-org/hello-world/statuses/3f786850e387550fdab836ed7e6dc881de23001b',
    avatar_url: 'https://github.com/images/error/hubot_happy.gif',
    id: 1,
    node_id: 'MDY6U3RhdHVzMQ==',
    state: request.state,
    description: request.description,
    target_url: request.target_url,
    context: request.context,
    created_at: '2024-05-01T10:00:00Z',
    updated_at: '2024-05-01T10:00:00Z',
    creator: { login: 'slipway-bot', id: 2, type: 'User', site_admin: false },
  }),
  error: (message) => ({ message, documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status', status: '401' }),
});
