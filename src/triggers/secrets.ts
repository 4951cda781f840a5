// Webhook secrets: from slipway.yml (per repository, or forge-wide) and from the API (sealed in
// the store), and the forge address a delivery must name its repository at. Lookups are
// synchronous and in memory, because every webhook, forged or not, asks for one before
// anything else happens.

import type { Config } from '../config/model.ts';
import type { ForgeName, ForgeOrigin, RepositoryRef } from '../forges/forge.ts';
import { repositoryKey } from '../forges/repository-url.ts';
import type { SecretKeeper } from '../secrets/environment.ts';
import type { Store } from '../store/store.ts';
import { servicesOf, webUrlOf } from './repositories.ts';

export interface SecretEntry {
  forge: ForgeName;
  /** "owner/name" for forges, the URL or path for plain git; "*" for a forge-wide secret. */
  repository: string;
  /** Where the secret is set; a repository's own secret wins over its forge's. */
  source: 'config' | 'api' | 'config (forge-wide)';
}

export class WebhookSecrets {
  private readonly stored = new Map<string, string>();

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly box: Pick<SecretKeeper, 'seal' | 'unseal'>,
  ) {}

  /** Reads the secrets set through the API; a secret that cannot be unsealed is reported, not used. */
  async load(log: (message: string) => void = () => {}): Promise<void> {
    for (const { forge, repository, sealed } of await this.store.webhookSecrets.list()) {
      try {
        this.stored.set(storedKey(forge as ForgeName, repository), this.box.unseal(sealed));
      } catch {
        log(`the webhook secret of ${forge} repository ${repository} cannot be unsealed with this data folder's key; set it again`);
      }
    }
  }

  /**
   * The secret a delivery about `repository` must be signed with; null when no service is built
   * from that repository (it is unknown here) or no secret is set for it.
   */
  secretFor(forge: ForgeName, repository: RepositoryRef): string | null {
    if (servicesOf(this.config, repository).length === 0) return null;
    const fromApi = this.stored.get(storedKey(forge, canonical(forge, forge === 'git' ? (repository.urls[0] ?? repository.fullName) : repository.fullName)));
    if (forge === 'git') return fromApi ?? null;
    const settings = this.config.forges[forge];
    const own = Object.entries(settings?.repositories ?? {}).find(([name]) => name.toLowerCase() === repository.fullName.toLowerCase());
    return own?.[1].secret ?? fromApi ?? settings?.secret ?? null;
  }

  /** Where the forge's deliveries must say they come from: a delivery is bound to its forge's host, as to its repository. */
  originOf(forge: ForgeName): ForgeOrigin {
    return { webUrl: webUrlOf(this.config, forge) };
  }

  async set(forge: ForgeName, repository: string, secret: string): Promise<void> {
    const name = canonical(forge, repository);
    await this.store.transaction(async (tx) => {
      // A secret set before under another casing of the name is replaced, not kept beside it.
      await removeStored(tx, forge, name);
      await tx.webhookSecrets.set(forge, name, this.box.seal(secret));
    });
    this.stored.set(storedKey(forge, name), secret);
  }

  async remove(forge: ForgeName, repository: string): Promise<boolean> {
    const name = canonical(forge, repository);
    this.stored.delete(storedKey(forge, name));
    return this.store.transaction((tx) => removeStored(tx, forge, name));
  }

  /** Where secrets are set, never the secrets themselves. */
  async list(): Promise<SecretEntry[]> {
    const entries: SecretEntry[] = (await this.store.webhookSecrets.list()).map(({ forge, repository }) => ({
      forge: forge as ForgeName,
      repository,
      source: 'api',
    }));
    for (const forge of ['github', 'gitlab', 'gitea'] as const) {
      const settings = this.config.forges[forge];
      for (const [repository, own] of Object.entries(settings?.repositories ?? {})) {
        if (own.secret !== undefined) entries.push({ forge, repository, source: 'config' });
      }
      if (settings?.secret) entries.push({ forge, repository: '*', source: 'config (forge-wide)' });
    }
    return entries;
  }
}

/**
 * Deletes the repository's stored secret under every spelling of its name: the lookup ignores
 * case (and, for plain repositories, the spelling of the path), the store's key does not.
 */
async function removeStored(store: Store, forge: ForgeName, name: string): Promise<boolean> {
  let removed = false;
  for (const row of await store.webhookSecrets.list()) {
    if (row.forge === forge && storedKey(forge, row.repository) === storedKey(forge, name)) {
      removed = (await store.webhookSecrets.delete(forge, row.repository)) || removed;
    }
  }
  return removed;
}

/** A plain repository is named by its URL or path, in any spelling; forges by "owner/name". */
function canonical(forge: ForgeName, repository: string): string {
  return forge === 'git' ? repositoryKey(repository) : repository;
}

/**
 * `name` is canonical (as stored): keying a plain repository's key again would read
 * "host/path" as a relative path.
 */
function storedKey(forge: ForgeName, name: string): string {
  return `${forge}\u0000${name.toLowerCase()}`;
}
