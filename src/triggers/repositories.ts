// Which services a repository is, and which forge a service's repository lives on. Pure: the
// same config and URL always give the same answer. URLs are read by forges/repository-url.ts,
// as webhook deliveries are bound by them.

import type { Config, ForgeSettings } from '../config/model.ts';
import { assertNever } from '../core/types.ts';
import type { ForgeName, RepositoryRef } from '../forges/forge.ts';
import { repositoryKey, SCP_LIKE, URL_SCHEME } from '../forges/repository-url.ts';

/** Each config's services by repository key, worked out once: every webhook asks. */
const servicesByKey = new WeakMap<Config, Map<string, string[]>>();

/** The services built from this repository, in config order. */
export function servicesOf(config: Config, repository: RepositoryRef): string[] {
  let byKey = servicesByKey.get(config);
  if (!byKey) {
    byKey = new Map();
    for (const [name, service] of Object.entries(config.services)) {
      const key = safeKey(service.repo);
      if (key !== null) byKey.set(key, [...(byKey.get(key) ?? []), name]);
    }
    servicesByKey.set(config, byKey);
  }
  const found = new Set(repository.urls.flatMap((url) => byKey.get(safeKey(url) ?? '') ?? []));
  return Object.keys(config.services).filter((name) => found.has(name));
}

/** Keys of the URLs webhooks name, remembered: each delivery names the same few again. */
const keysOfUrls = new Map<string, string | null>();
const REMEMBERED_URLS = 10_000;

function safeKey(url: string): string | null {
  let key = keysOfUrls.get(url);
  if (key !== undefined) return key;
  try {
    key = repositoryKey(url);
  } catch {
    key = null;
  }
  if (keysOfUrls.size >= REMEMBERED_URLS) keysOfUrls.clear();
  keysOfUrls.set(url, key);
  return key;
}

type HostedForge = Exclude<ForgeName, 'git'>;

const DEFAULT_WEB_URL: Record<HostedForge, string | null> = {
  github: 'https://github.com',
  gitlab: 'https://gitlab.com',
  gitea: null,
};

export interface ForgeOfRepository {
  forge: HostedForge;
  settings: ForgeSettings;
  /** "owner/name" (GitLab: the full namespace path), as the forge's API spells it. */
  fullName: string;
}

/** The configured forge whose host serves this repository URL, or null. */
export function forgeOf(config: Config, repoUrl: string): ForgeOfRepository | null {
  const key = safeKey(repoUrl);
  if (key === null) return null;
  for (const forge of ['github', 'gitlab', 'gitea'] as const) {
    const settings = config.forges[forge];
    const webUrl = settings?.url ?? DEFAULT_WEB_URL[forge];
    if (!settings || !webUrl) continue;
    const base = repositoryKey(webUrl);
    if (key.startsWith(`${base}/`)) return { forge, settings, fullName: fullNameIn(repoUrl, key.length - base.length) };
  }
  return null;
}

/**
 * The forge's web address: its configured `url`, else the public forge's (github.com,
 * gitlab.com); null where there is none (Gitea without a `url`, plain git).
 */
export function webUrlOf(config: Config, forge: ForgeName): string | null {
  return forge === 'git' ? null : (config.forges[forge]?.url ?? DEFAULT_WEB_URL[forge]);
}

/** The repository's path as written (forges' APIs keep its case), without the host part. */
function fullNameIn(repoUrl: string, length: number): string {
  const path = URL_SCHEME.test(repoUrl) ? decodeURIComponent(new URL(repoUrl).pathname) : (SCP_LIKE.exec(repoUrl)?.[2] ?? repoUrl);
  const cleaned = path.replace(/\/+$/, '').replace(/\.git$/, '');
  return cleaned.slice(cleaned.length - length + 1);
}

/** The forge's API base: configured, or derived from its web address. */
export function apiUrlOf(forge: HostedForge, settings: ForgeSettings): string | null {
  if (settings.api_url) return settings.api_url.replace(/\/+$/, '');
  const webUrl = (settings.url ?? DEFAULT_WEB_URL[forge])?.replace(/\/+$/, '');
  if (!webUrl) return null;
  switch (forge) {
    case 'github':
      return new URL(webUrl).hostname === 'github.com' ? 'https://api.github.com' : `${webUrl}/api/v3`;
    case 'gitlab':
      return `${webUrl}/api/v4`;
    case 'gitea':
      return `${webUrl}/api/v1`;
    default:
      return assertNever(forge, 'forge');
  }
}
