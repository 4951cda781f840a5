// Binds a delivery to the repository whose secret verified it (the Forge contract in
// forge.ts). A body names its repository in many places: GitHub's has a full name, a short
// name, an owner and six URLs. The secret is looked up by the full name but services are
// matched on the URLs, so a body signed with repository A's secret that names A in full_name
// and B in clone_url would start B's services. Every place must name the one repository.
//
// Each adapter lists where its bodies name the repository; a value that is not a string names
// nothing (a field the forge left out, null). Only the forge's own bodies are read this way,
// after their signature is checked.

import { assertNever } from '../core/types.ts';
import type { ForgeOrigin, WebhookResult } from './forge.ts';
import { remoteKey } from './repository-url.ts';

/**
 * How a field names the repository: its full name ("owner/name", GitLab's namespace path), the
 * part before the last "/" (owner) or after it (name), a clone or web URL, a clone or web URL
 * or else one of GitHub's REST API (`url`: the web page in push payloads, the API elsewhere;
 * https://api.<host>/repos/<full name>, or <host>/api/v3/repos/... on GitHub Enterprise), or
 * the repository's numeric id.
 */
export type NamingKind = 'full name' | 'owner' | 'name' | 'url' | 'web or api url' | 'id';

/** Fields of one object of the body, by dotted path within it; "a|b" reads b where a is absent. */
export type Names = Record<string, NamingKind>;

export interface Binding {
  /** The dotted path of the full name the secret was looked up by. */
  fullName: string;
  /** The dotted path of the repository's numeric id, where the forge sends one. */
  id?: string;
  /** Objects of the body that describe the repository (dotted paths) and the fields that name it. */
  places: Record<string, Names>;
}

type Url = { host: string; path: string };

/** Null when every place names the repository; else the rejection, naming the first field that does not. */
export function unbound(body: unknown, binding: Binding, origin: ForgeOrigin | undefined): WebhookResult | null {
  const fullName = String(valueAt(body, binding.fullName)).toLowerCase();
  const id = binding.id === undefined ? undefined : valueAt(body, binding.id);
  const slash = fullName.lastIndexOf('/');
  const expected: Record<'full name' | 'owner' | 'name', string> = {
    'full name': fullName,
    owner: fullName.slice(0, Math.max(slash, 0)),
    name: fullName.slice(slash + 1),
  };
  const forge = origin?.webUrl ? safeRemoteKey(origin.webUrl) : null;
  // The host every URL must be on: the forge's, or else the first URL's.
  let host: { name: string; from: string } | null = forge ? { name: forge.host, from: `the forge's address is ${origin!.webUrl}` } : null;

  const mismatch = (field: string, why: string): WebhookResult => ({
    kind: 'rejected',
    reason: 'repository_mismatch',
    message: `${field} ${why}: the delivery names another repository than ${String(valueAt(body, binding.fullName))} (${binding.fullName}), whose secret verified it`,
  });
  const onHost = (field: string, url: Url): WebhookResult | null => {
    if (host === null) host = { name: url.host, from: `as ${field} is` };
    return url.host === host.name ? null : mismatch(field, `is on host ${url.host || '(none)'}, not ${host.name} (${host.from})`);
  };
  /** A clone or web URL: the full name, at the root or under the forge's path, on the host. */
  const checkUrl = (field: string, value: string): WebhookResult | null => {
    const url = safeRemoteKey(value);
    if (url === null) return mismatch(field, `(${value}) is not the URL of a repository on a forge`);
    const underForge = forge?.path ? url.path === `${forge.path}/${fullName}` : false;
    if (url.path !== fullName && !underForge) return mismatch(field, `names ${url.path || 'no repository'}`);
    return onHost(field, url);
  };
  const checkApiUrl = (field: string, value: string): WebhookResult | null => {
    const api = apiRepository(value);
    if (api === null) return mismatch(field, `(${value}) is not the API URL of a repository`);
    if (api.path !== fullName) return mismatch(field, `names ${api.path || 'no repository'}`);
    return onHost(field, api);
  };

  for (const [place, names] of Object.entries(binding.places)) {
    for (const [path, kind] of Object.entries(names)) {
      const field = `${place}.${firstPresent(valueAt(body, place), path)}`;
      const value = valueAt(body, field);
      let refused: WebhookResult | null = null;
      switch (kind) {
        case 'full name':
        case 'owner':
        case 'name':
          if (typeof value === 'string' && value.toLowerCase() !== expected[kind]) refused = mismatch(field, `names ${value}`);
          break;
        case 'id':
          if (typeof value === 'number' && typeof id === 'number' && value !== id) refused = mismatch(field, `is repository id ${value}, not ${id}`);
          break;
        case 'url':
          if (typeof value === 'string' && value !== '') refused = checkUrl(field, value);
          break;
        case 'web or api url':
          if (typeof value === 'string' && value !== '') refused = isApiUrl(value) ? checkApiUrl(field, value) : checkUrl(field, value);
          break;
        default:
          return assertNever(kind, 'naming kind');
      }
      if (refused) return refused;
    }
  }
  return null;
}

/** GitHub's REST API address of a repository: api.<host>/repos/... or, on GitHub Enterprise, <host>/api/v3/repos/... */
export function isApiUrl(url: string): boolean {
  return /^https?:\/\/(api\.[^/]+\/|[^/]+\/api\/)/i.test(url);
}

/** The web host and the repository an API URL names, or null when it names none. */
function apiRepository(value: string): Url | null {
  const url = safeRemoteKey(value);
  if (url === null) return null;
  if (url.host.startsWith('api.') && url.path.startsWith('repos/')) return { host: url.host.slice('api.'.length), path: url.path.slice('repos/'.length) };
  if (url.path.startsWith('api/v3/repos/')) return { host: url.host, path: url.path.slice('api/v3/repos/'.length) };
  return null;
}

function safeRemoteKey(url: string): Url | null {
  try {
    return remoteKey(url);
  } catch {
    return null;
  }
}

/** The value at a dotted path of a parsed body; undefined where any step is missing. */
function valueAt(body: unknown, path: string): unknown {
  let value = body;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Of "a|b", the first path the object has a value at (the last one when it has none). */
function firstPresent(object: unknown, alternatives: string): string {
  const paths = alternatives.split('|');
  return paths.find((path) => valueAt(object, path) !== undefined && valueAt(object, path) !== null) ?? paths.at(-1)!;
}
