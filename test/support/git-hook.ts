// Real pushes into a real bare repository whose post-receive hook the real CLI installed, and a
// tiny HTTP server standing in for Slipway: it hands out the hook token (POST /api/git-hooks) and
// records what the hook sends (POST /hooks/git). The git forge's fixtures are these recordings.

import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { slipway, type CliResult } from './cli.ts';

export const HOOK_TOKEN = 'git-hook-test-token';
export const ZERO_SHA = '0'.repeat(40);
/** The hook names whoever pushed; the pushes here run as this user. */
export const PUSHER = 'ada';

/** What the stand-in server says is built from a repository; others have no services. */
export const SERVICES_OF: Record<string, string[]> = { 'ssh://git@git.example.com/team/api.git': ['api', 'api-worker'] };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HookServer {
  url: string;
  requests: RecordedRequest[];
  /** The requests the hook sent. */
  deliveries(): RecordedRequest[];
  /** How /hooks/git answers: with a status, or never (to see the hook give up in time). */
  answer: number | 'never';
  close(): Promise<void>;
}

export async function startHookServer(): Promise<HookServer> {
  const requests: RecordedRequest[] = [];
  const held: ServerResponse[] = [];
  let url = '';
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const recorded = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) };
      requests.push(recorded);
      if (recorded.method === 'POST' && recorded.path === '/api/git-hooks') {
        const { repository } = JSON.parse(recorded.body.toString('utf8')) as { repository: string };
        response.writeHead(201, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ repository, token: HOOK_TOKEN, hookUrl: `${url}/hooks/git`, services: SERVICES_OF[repository] ?? [] }));
      } else if (recorded.method === 'POST' && recorded.path === '/hooks/git') {
        if (hookServer.answer === 'never') return void held.push(response);
        response.writeHead(hookServer.answer, { 'content-type': 'application/json' });
        response.end(hookServer.answer < 300 ? '{"accepted":true}' : '{"error":{"code":"SIGNATURE_INVALID","message":"the token is wrong"}}');
      } else {
        response.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hookServer: HookServer = {
    url,
    requests,
    deliveries: () => requests.filter((request) => request.path === '/hooks/git'),
    answer: 202,
    close: () =>
      new Promise((resolve) => {
        for (const response of held) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return hookServer;
}

/** Git as the tests' user: no global or system config, a fixed identity, PUSHER as the user. */
export const GIT_ENV: NodeJS.ProcessEnv = (() => {
  const { GL_USERNAME: _gitlab, GITEA_PUSHER_NAME: _gitea, GL_USER: _gitolite, ...env } = process.env;
  return {
    ...env,
    USER: PUSHER,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Ada',
    GIT_AUTHOR_EMAIL: 'ada@slipway.invalid',
    GIT_COMMITTER_NAME: 'Ada',
    GIT_COMMITTER_EMAIL: 'ada@slipway.invalid',
    LC_ALL: 'C',
  };
})();

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runGit(args: string[], cwd?: string): Promise<GitResult> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, env: GIT_ENV }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

export async function git(args: string[], cwd?: string): Promise<string> {
  const result = await runGit(args, cwd);
  if (result.code !== 0) throw new Error(`git ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}

/** A bare repository with the hook installed by `slipway hook install`, and a clone of it. */
export async function hookedRepository(root: string, server: HookServer, installArgs: string[] = []): Promise<{ bare: string; work: string; install: CliResult }> {
  const bare = join(root, 'origin.git');
  const work = join(root, 'work');
  await git(['init', '--quiet', '--bare', '--initial-branch', 'main', bare]);
  const install = await slipway(['hook', 'install', bare, ...installArgs], { server: server.url, timeoutMs: 30_000 });
  if (install.code !== 0) throw new Error(`slipway hook install failed:\n${install.stdout}${install.stderr}`);
  await git(['clone', '--quiet', bare, work]);
  return { bare, work, install };
}

/** What the hook must send for one ref. */
export interface ExpectedUpdate {
  ref: string;
  before: string;
  after: string;
  commit: string;
  forced: boolean;
  commits: number;
}

export interface PushStep {
  /** What `git push` printed (the hook's output comes back prefixed "remote: "). */
  output: string;
  /** What the hook sent during this push, one request per updated ref, in any order. */
  deliveries: RecordedRequest[];
  expected: ExpectedUpdate[];
}

export const PUSH_STEPS = ['created', 'updated', 'forced', 'newBranchAndTag', 'notesAndDeletions'] as const;
export type PushStepName = (typeof PUSH_STEPS)[number];

/**
 * Five pushes into a hooked repository (each runs the hook once, and starting the CLI is the
 * slow part, so one push updates several refs where that changes nothing about them):
 *   created            main is created with two commits
 *   updated            main gets one commit; feature is created at a commit main had (no new
 *                      commits); annotated tag v1.0
 *   forced             main's last commit amended and force-pushed
 *   newBranchAndTag    topic is created with two new commits; lightweight tag v1.1 on its tip
 *   notesAndDeletions  refs/notes/commits (neither branch nor tag); feature and v1.0 deleted
 * What each ref must have sent is worked out here from the clone, not from what the hook sent.
 */
export async function pushScenario(work: string, server: HookServer): Promise<Record<PushStepName, PushStep>> {
  let commits = 0;
  const commit = async (message: string) => {
    commits += 1;
    await git(['commit', '--quiet', '--allow-empty', '-m', `${message} (${commits})`], work);
    return git(['rev-parse', 'HEAD'], work);
  };
  const steps: Partial<Record<PushStepName, PushStep>> = {};
  const push = async (name: PushStepName, args: string[], expected: ExpectedUpdate[]) => {
    const already = server.deliveries().length;
    const result = await runGit(['push', ...args], work);
    if (result.code !== 0) throw new Error(`git push ${args.join(' ')} failed: ${result.stderr}`);
    steps[name] = { output: result.stderr + result.stdout, deliveries: server.deliveries().slice(already), expected };
  };
  const update = (ref: string, before: string, after: string, fields: Partial<ExpectedUpdate> = {}): ExpectedUpdate => ({
    ref,
    before,
    after,
    commit: after,
    forced: false,
    commits: 0,
    ...fields,
  });

  await commit('first');
  const second = await commit('second');
  await push('created', ['origin', 'main'], [update('refs/heads/main', ZERO_SHA, second, { commits: 2 })]);

  const third = await commit('third');
  await git(['tag', '--annotate', '--message', 'release 1.0', 'v1.0', second], work);
  const tagObject = await git(['rev-parse', 'v1.0'], work);
  await push('updated', ['origin', 'main', `${second}:refs/heads/feature`, 'v1.0'], [
    update('refs/heads/main', second, third, { commits: 1 }),
    update('refs/heads/feature', ZERO_SHA, second),
    update('refs/tags/v1.0', ZERO_SHA, tagObject, { commit: second }),
  ]);

  await git(['commit', '--quiet', '--amend', '--allow-empty', '-m', 'third, amended'], work);
  const amended = await git(['rev-parse', 'HEAD'], work);
  await push('forced', ['--force', 'origin', 'main'], [update('refs/heads/main', third, amended, { forced: true, commits: 1 })]);

  await git(['checkout', '--quiet', '-b', 'topic'], work);
  await commit('topic one');
  const topic = await commit('topic two');
  await git(['tag', 'v1.1'], work);
  await push('newBranchAndTag', ['origin', 'topic', 'v1.1'], [
    update('refs/heads/topic', ZERO_SHA, topic, { commits: 2 }),
    // Before this push no branch had the commits the tag names either.
    update('refs/tags/v1.1', ZERO_SHA, topic, { commits: 2 }),
  ]);

  await git(['notes', 'add', '--message', 'a note', 'HEAD'], work);
  const notes = await git(['rev-parse', 'refs/notes/commits'], work);
  await push('notesAndDeletions', ['origin', 'refs/notes/commits', ':refs/heads/feature', ':refs/tags/v1.0'], [
    update('refs/notes/commits', ZERO_SHA, notes, { commits: 1 }),
    update('refs/heads/feature', second, ZERO_SHA),
    update('refs/tags/v1.0', tagObject, ZERO_SHA, { commit: second }),
  ]);

  return steps as Record<PushStepName, PushStep>;
}

/** The recorded delivery for one ref of a push step. */
export function deliveryFor(step: PushStep, ref: string): RecordedRequest {
  const found = step.deliveries.filter((delivery) => (JSON.parse(delivery.body.toString('utf8')) as { ref?: unknown }).ref === ref);
  if (found.length !== 1) throw new Error(`expected one delivery for ${ref}, got ${found.length}: ${step.output}`);
  return found[0]!;
}
