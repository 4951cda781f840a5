// `slipway hook install` gives a bare repository, on a machine with no forge, a post-receive
// hook that tells Slipway about every push; `slipway hook notify` is what that hook runs. What
// it sends is read by the `git` forge (src/forges/git/forge.ts, which documents the body).
//
// The hook runs inside someone's `git push`: it must never fail or hold up the push, so every
// request has a time limit and every failure is a line on stderr and exit code 0.

import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import { describeError } from '../core/errors.ts';
import { shellQuote } from '../core/shell.ts';
import type { HookDelivery } from '../forges/git/forge.ts';
import { isZeroSha } from '../core/sha.ts';
import { VERSION } from '../core/version.ts';
import { git, type GitOptions } from '../source/git/source.ts';
import { red } from './format.ts';

const NOTIFY_TIMEOUT_MS = 5_000;
/** Tells Slipway's hook apart from someone else's, which install does not overwrite unasked. */
const HOOK_MARKER = '# slipway post-receive hook';
const SLIPWAY_BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));

async function gitValue(args: string[], options: GitOptions = {}): Promise<string> {
  const output = await git(args, options);
  if (output.code !== 0) throw new Error(`git ${args[0]}: ${output.stderr.trim().split('\n').at(-1) ?? `exit code ${output.code}`}`);
  return output.stdout.trim();
}

class HookError extends Error {}

export function registerHookCommands(program: Command, client: () => SlipwayClient): void {
  const hook = program.command('hook').description('notify Slipway of pushes to a plain git repository (no forge)');

  hook
    .command('install <bare-repo-path>')
    .description('give a bare repository a post-receive hook that notifies Slipway of every push')
    .option('--url <url>', 'the URL or path services clone the repository from (default: its absolute path)')
    .option('--force', "replace a post-receive hook that is not Slipway's")
    .action(async (path: string, options: { url?: string; force?: boolean }) => {
      try {
        await install(path, options, client(), program.opts<{ server: string }>().server);
      } catch (error) {
        if (!(error instanceof HookError)) throw error;
        process.stderr.write(`${red('slipway:')} ${error.message}\n`);
        process.exitCode = 1;
      }
    });

  hook
    .command('notify')
    .description('tell Slipway about the ref updates on stdin (run by the post-receive hook)')
    .action(notify);
}

async function install(path: string, options: { url?: string; force?: boolean }, api: SlipwayClient, server: string): Promise<void> {
  const gitDir = resolve(path);
  // An inherited GIT_DIR would answer for another repository.
  const { GIT_DIR: _gitDir, GIT_WORK_TREE: _workTree, ...env } = process.env;
  const inRepository = { cwd: gitDir, env };
  await assertBareRepository(gitDir, inRepository);
  // --git-path follows core.hooksPath; a relative answer is relative to the repository.
  const hookPath = resolve(gitDir, await gitValue(['rev-parse', '--git-path', 'hooks/post-receive'], inRepository));
  if (existsSync(hookPath) && !readFileSync(hookPath, 'utf8').includes(HOOK_MARKER) && !options.force) {
    throw new HookError(`${hookPath} exists and is not Slipway's; move it aside, or use --force to replace it`);
  }

  const repository = options.url ?? gitDir;
  const registration = await api.registerGitHook(repository);
  const hookUrl = new URL(registration.hookUrl, server).toString();
  for (const [key, value] of [
    ['slipway.url', hookUrl],
    ['slipway.repository', repository],
    ['slipway.token', registration.token],
  ] as const) {
    await gitValue(['config', key, value], inRepository);
  }

  mkdirSync(dirname(hookPath), { recursive: true });
  const script = [
    '#!/bin/sh',
    `${HOOK_MARKER}, written by \`slipway hook install\`: tells Slipway about every ref a push updates.`,
    `exec ${shellQuote(process.execPath)} ${shellQuote(SLIPWAY_BIN)} hook notify`,
    '',
  ].join('\n');
  writeFileSync(hookPath, script);
  chmodSync(hookPath, 0o755);
  process.stdout.write(`Installed the Slipway post-receive hook in ${hookPath}\n`);
  const runs = registration.services.length > 0 ? `which runs ${registration.services.join(', ')}` : 'which builds no service from it yet';
  process.stdout.write(`  pushes to ${repository} will notify ${hookUrl}, ${runs}\n`);
}

async function assertBareRepository(gitDir: string, inRepository: GitOptions): Promise<void> {
  const notBare = (detail?: string) => new HookError(`not a bare git repository: ${gitDir}${detail ? ` (${detail})` : ''}`);
  if (!existsSync(gitDir)) throw notBare();
  const output = await git(['rev-parse', '--is-bare-repository', '--absolute-git-dir'], inRepository);
  if (output.code !== 0) throw notBare(output.stderr.trim().split('\n').at(-1)?.replace(/^fatal: /, ''));
  const [bare, foundGitDir] = output.stdout.trim().split('\n');
  // Inside a repository's folder (its objects/, a work tree) git answers for that repository.
  if (bare !== 'true' || foundGitDir === undefined || realpathSync(foundGitDir) !== realpathSync(gitDir)) throw notBare();
}

/** One line git gives a post-receive hook on stdin. */
interface RefUpdate {
  before: string;
  after: string;
  ref: string;
}


async function notify(): Promise<void> {
  let target = 'Slipway';
  try {
    const updates = parseUpdates(await readStdin());
    const [url, repository, token] = await Promise.all(['slipway.url', 'slipway.repository', 'slipway.token'].map(configValue));
    if (url) target = url;
    if (!url || !repository || !token) throw new Error('slipway.url, slipway.repository or slipway.token is not set in this repository; run `slipway hook install` again');
    const branchesBeforePush = await branchTipsBefore(updates);
    const pusher = [process.env.GL_USERNAME, process.env.GITEA_PUSHER_NAME, process.env.GL_USER, process.env.USER].find((name) => !!name) ?? 'git';
    const outcomes = await Promise.all(
      updates.map(async (update): Promise<Outcome> => {
        try {
          return await post(url, token, await describeUpdate(update, repository, pusher, branchesBeforePush));
        } catch (error) {
          return { ok: false, reason: `${update.ref}: ${describeError(error)}` };
        }
      }),
    );
    for (const outcome of outcomes) {
      if (outcome.ok) process.stdout.write(`slipway: notified ${url} of ${outcome.ref} (${outcome.status})\n`);
      else process.stderr.write(`slipway: could not notify ${url}: ${outcome.reason}\n`);
    }
  } catch (error) {
    process.stderr.write(`slipway: could not notify ${target}: ${describeError(error)}\n`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseUpdates(input: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const line of input.split('\n')) {
    if (line.trim() === '') continue;
    const match = /^([0-9a-f]+) ([0-9a-f]+) (\S.*)$/.exec(line.trim());
    if (!match) throw new Error(`unexpected line from git: ${JSON.stringify(line)}`);
    updates.push({ before: match[1]!, after: match[2]!, ref: match[3]! });
  }
  return updates;
}

async function configValue(key: string): Promise<string | null> {
  const output = await git(['config', '--get', key]);
  return output.code === 0 && output.stdout.trim() !== '' ? output.stdout.trim() : null;
}

/** Every branch's commit as it was before this push: git has already moved the refs when the hook runs. */
async function branchTipsBefore(updates: RefUpdate[]): Promise<Map<string, string>> {
  const tips = new Map<string, string>();
  for (const line of (await gitValue(['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads/'])).split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0) tips.set(line.slice(space + 1), line.slice(0, space));
  }
  for (const { ref, before } of updates) {
    if (!ref.startsWith('refs/heads/')) continue;
    if (isZeroSha(before)) tips.delete(ref);
    else tips.set(ref, before);
  }
  return tips;
}

async function describeUpdate(update: RefUpdate, repository: string, pusher: string, branchesBeforePush: Map<string, string>): Promise<HookDelivery> {
  const { ref, before, after } = update;
  const created = isZeroSha(before);
  const deleted = isZeroSha(after);
  // A deleted tag's object is still in the repository until git collects garbage.
  const commit = ref.startsWith('refs/tags/') ? ((await peel(deleted ? before : after)) ?? after) : after;

  let forced = false;
  let commits = 0;
  if (!created && !deleted) {
    forced = (await git(['merge-base', '--is-ancestor', before, after])).code === 1;
    commits = Number(await gitValue(['rev-list', '--count', `${before}..${after}`]));
  } else if (created) {
    // A new branch's new commits are those no other branch had before the push.
    const others = [...branchesBeforePush].filter(([branch]) => branch !== ref).map(([, sha]) => `^${sha}\n`);
    commits = Number(await gitValue(['rev-list', '--count', '--stdin'], { input: `${after}\n${others.join('')}` }));
  }
  return { repository, ref, before, after, commit, forced, commits, pusher };
}

async function peel(sha: string): Promise<string | null> {
  if (isZeroSha(sha)) return null;
  const output = await git(['rev-parse', '--verify', '--quiet', `${sha}^{commit}`]);
  return output.code === 0 ? output.stdout.trim() : null;
}

type Outcome = { ok: true; ref: string; status: number } | { ok: false; reason: string };

async function post(url: string, token: string, body: HookDelivery): Promise<Outcome> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': `slipway-hook/${VERSION}`,
        'x-slipway-token': token,
        'x-slipway-delivery': randomUUID(),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
    });
    const text = await response.text();
    if (response.ok) return { ok: true, ref: body.ref, status: response.status };
    return { ok: false, reason: `${body.ref}: HTTP ${response.status}${serverMessage(text)}` };
  } catch (error) {
    const reason = error instanceof DOMException && error.name === 'TimeoutError' ? `no answer within ${NOTIFY_TIMEOUT_MS / 1000} s` : describeFailure(error);
    return { ok: false, reason: `${body.ref}: ${reason}` };
  }
}

function serverMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? ` ${message}` : '';
  } catch {
    return '';
  }
}

function describeFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return describeError(error);
}
