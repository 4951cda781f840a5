// What every status reporter needs around its one request: the forge's API base, the time the
// request may take, the description cut to what the forges accept, the JSON POST itself, and
// rejections that say what went wrong without ever showing the token. GitHub and Gitea also share
// their states, their "owner/name" repositories and their { message } error bodies.

import { STATUS_CODES } from 'node:http';
import type { CommitState, ForgeName, StatusReporterSettings } from './forge.ts';

/**
 * GitHub's states (and Gitea's, which copy them). Neither has a running or cancelled state: a
 * running run is still pending there, and a cancelled one did not reach a verdict, which both call error.
 */
export const GITHUB_STATES = {
  pending: 'pending',
  running: 'pending',
  success: 'success',
  failure: 'failure',
  error: 'error',
  cancelled: 'error',
} as const satisfies Record<CommitState, 'pending' | 'success' | 'failure' | 'error'>;

/** GitHub refuses a longer description (422); the other forges get the same cut. */
const DESCRIPTION_LIMIT = 140;
const REQUEST_TIMEOUT_MS = 10_000;

/** The forge a reporter talks to: its name for messages, its API base, and the token to keep out of them. */
export interface StatusApi {
  forge: ForgeName;
  apiUrl: string;
  token: string;
}

/** A forge's answer, read to its end (which lets the connection be reused). */
export interface StatusAnswer {
  ok: boolean;
  status: number;
  text: string;
}

export function statusApi(forge: ForgeName, settings: StatusReporterSettings): StatusApi {
  return { forge, apiUrl: settings.apiUrl.replace(/\/+$/, ''), token: settings.token };
}

/** The signal a request runs under: the caller's, if any, and the time the request may take. */
export function deadline(signal?: AbortSignal): { signal: AbortSignal; timeout: AbortSignal } {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  return { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, timeout };
}

/**
 * POSTs a JSON body with the forge's authentication header, once. A request that gets no answer
 * rejects with why; any answer, refusals included, is the caller's to judge.
 */
export async function postJson(
  api: StatusApi,
  url: string,
  auth: Record<string, string>,
  body: unknown,
  signal?: AbortSignal,
): Promise<StatusAnswer> {
  const request = deadline(signal);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: request.signal,
    });
  } catch (error) {
    throw gaveUp(api, signal, request.timeout) ?? unreachable(api, networkError(error));
  }
  const text = await response.text().catch(() => '');
  return { ok: response.ok, status: response.status, text };
}

/** The rejection of a request that the caller aborted or that ran out of time, or null for neither. */
export function gaveUp(api: StatusApi, signal: AbortSignal | undefined, timeout: AbortSignal): Error | null {
  if (signal?.aborted) return failure(api, `the report to ${api.forge} was aborted`);
  if (timeout.aborted) return failure(api, `${api.forge} at ${api.apiUrl} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
  return null;
}

export function unreachable(api: StatusApi, reason: string): Error {
  return failure(api, `cannot reach ${api.forge} at ${api.apiUrl}: ${reason}`);
}

/** The rejection of a forge's refusal: its status, and its own message when it gave one. */
export function answered(api: StatusApi, status: number, message: string | null): Error {
  const answer = `${api.forge} answered ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd();
  return failure(api, message ? `${answer}: ${message}` : answer);
}

/** The `message` of an error body shaped { message, ... } (GitHub, Gitea), or null. */
export function messageField(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || !('message' in body)) return null;
  return typeof body.message === 'string' ? body.message : null;
}

/** An answer's text as JSON, or undefined when it is none (an HTML page from a proxy, say). */
export function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** GitHub and Gitea name a repository "owner/name". */
export function ownerAndName(forge: ForgeName, repository: string): [string, string] {
  const match = /^([^/]+)\/([^/]+)$/.exec(repository);
  if (!match) throw new Error(`a ${forge} repository is "owner/name", not "${repository}"`);
  return [match[1]!, match[2]!];
}

export function cut(description: string): string {
  const characters = [...description];
  return characters.length <= DESCRIPTION_LIMIT ? description : characters.slice(0, DESCRIPTION_LIMIT - 1).join('') + '…';
}

/** fetch says "fetch failed"; the cause names what went wrong (ECONNREFUSED, ENOTFOUND, ...). */
function networkError(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function failure(api: StatusApi, message: string): Error {
  return new Error(api.token === '' ? message : message.replaceAll(api.token, '[token]'));
}
