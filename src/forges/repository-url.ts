// How a repository URL is read. Services are matched to deliveries by it
// (triggers/repositories.ts), and a delivery is bound to the repository it names by it
// (binding.ts): one reading for both, or a URL could pass the binding and still mean another
// repository to the matching.
//
// A repository has many spellings (https and ssh clone URLs, the web URL, with or without
// ".git", a user name, a port), so each is reduced to "host/path" before comparing. Forges
// treat owner and repository names case-insensitively, so the comparison does too.

import { resolve } from 'node:path';

export const SCP_LIKE = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/;
export const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Where a URL points: a host and the path there, or a local path (file://, or no URL at all). */
type Location = { host: string; path: string } | { local: string };

/** Throws on a URL with a scheme that does not parse, or whose path has a bad escape. */
function locationOf(url: string): Location {
  const trimmed = url.trim();
  if (URL_SCHEME.test(trimmed)) {
    const parsed = new URL(trimmed);
    const path = decodeURIComponent(parsed.pathname);
    return parsed.protocol === 'file:' ? { local: path } : { host: parsed.hostname, path };
  }
  const scp = SCP_LIKE.exec(trimmed);
  return scp && !trimmed.startsWith('/') && !trimmed.startsWith('.') ? { host: scp[1]!, path: `/${scp[2]}` } : { local: resolve(trimmed) };
}

function tidy(key: string): string {
  return key.replace(/\/+$/, '').replace(/\.git$/, '').replace(/\/+$/, '').toLowerCase();
}

/**
 * "host/owner/name" for URLs, the absolute path for local repositories; lower-case, no ".git".
 * Throws on a URL that does not parse.
 */
export function repositoryKey(url: string): string {
  const location = locationOf(url);
  return tidy('local' in location ? location.local : `${location.host}${location.path}`);
}

/**
 * A URL of a repository on a remote host as its key reads it: `${host}/${path}` is exactly
 * repositoryKey(url). Null for a local repository; throws on a URL that does not parse.
 */
export function remoteKey(url: string): { host: string; path: string } | null {
  const location = locationOf(url);
  if ('local' in location) return null;
  const key = tidy(`${location.host}${location.path}`);
  const slash = key.indexOf('/');
  return slash < 0 ? { host: key, path: '' } : { host: key.slice(0, slash), path: key.slice(slash + 1) };
}
