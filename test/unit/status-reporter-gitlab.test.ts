// The GitLab reporter against the request GitLab documents for "Set the pipeline status of a
// commit" (POST /projects/:id/statuses/:sha, :id the URL-encoded full path) and its answers,
// plus GitLab's refusal to set a state the commit already has.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createStatusReporter } from '../../src/forges/gitlab/status.ts';
import { startFakeForge, statusReporterConformance } from './status-reporter-conformance.ts';

const SHA = '3f786850e387550fdab836ed7e6dc881de23001b';

statusReporterConformance('gitlab', {
  forge: 'gitlab',
  create: createStatusReporter,
  apiPath: '/api/v4',
  // A project in a subgroup: every slash of the path is encoded.
  repository: 'platform/payments/payment-api',
  path: (sha) => `/projects/platform%2Fpayments%2Fpayment-api/statuses/${sha}`,
  headers: (token) => ({ 'private-token': token }),
  states: { pending: 'pending', running: 'running', success: 'success', failure: 'failed', error: 'failed', cancelled: 'canceled' },
  body: (status, state) => ({ state, name: status.context, target_url: status.targetUrl, description: status.description }),
  accepted: (request) => ({
    id: 93,
    sha: SHA,
    ref: null,
    status: request.state,
    name: request.name,
    target_url: request.target_url,
    description: request.description,
    created_at: '2024-05-01T10:00:00.000Z',
    started_at: null,
    finished_at: null,
    allow_failure: false,
    coverage: null,
    author: { id: 2, username: 'slipway-bot', name: 'Slipway', state: 'active', avatar_url: null, web_url: 'https://gitlab.example.com/slipway-bot' },
  }),
  error: (message) => ({ message }),
});

describe('gitlab reporter: a state the commit already has', () => {
  const forgeAnswering = async (message: string) => {
    const forge = await startFakeForge(() => ({ status: 400, body: { message } }));
    after(() => forge.close());
    return createStatusReporter({ apiUrl: `${forge.origin}/api/v4`, token: 'glpat-test-token' })!;
  };
  const status = { repository: 'group/project', sha: SHA, context: 'slipway/payment', description: 'Run #1 is running', targetUrl: 'http://ci/runs/1' };

  test('GitLab refusing to move running to running counts as accepted', async () => {
    const reporter = await forgeAnswering('Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")');
    await reporter.report({ ...status, state: 'running' });
  });

  test('GitLab refusing a real change (running after success) is a failure', async () => {
    const reporter = await forgeAnswering('Cannot transition status via :run from :success (Reason(s): Status cannot transition via "run")');
    await assert.rejects(reporter.report({ ...status, state: 'running' }), /400 Bad Request: Cannot transition status via :run from :success/);
  });
});
