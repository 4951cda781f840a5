// Per-environment secrets: set, listed (names and dates, never values), deleted and rotated by
// an admin; sealed with the data folder's key (AES-256-GCM, see box.ts) in the store; unsealed
// only for the stages and containers of their environment. A service's own value of a name
// wins over the environment-wide one.

import type { Config } from '../config/model.ts';
import { SlipwayError } from '../core/errors.ts';
import { err, ok, type Result, type SecretEntry } from '../core/types.ts';
import type { SealedSecret, Store } from '../store/store.ts';
import type { SecretBox } from './box.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A secret is a password, a token, a key file: 64 KiB holds any of them. */
const MAX_VALUE_BYTES = 64 * 1024;

/** The box every sealer uses; a key rotation swaps it whole. */
export class SecretKeeper {
  constructor(public box: SecretBox) {}

  seal(plain: string): string {
    return this.box.seal(plain);
  }

  unseal(sealed: string): string {
    return this.box.unseal(sealed);
  }
}

export interface SecretTarget {
  environment: string;
  /** Null: every service of the environment. */
  service: string | null;
  name: string;
}

export class EnvironmentSecrets {
  constructor(
    private readonly config: Config,
    private readonly store: Store,
    private readonly keeper: SecretKeeper,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The values a service's stage in the environment gets. Every name the environment lists
   * under `secrets` must be set: the first one that is not is an error naming it, before
   * anything runs.
   */
  async valuesFor(service: string, environment: string): Promise<Result<Record<string, string>>> {
    const values: Record<string, string> = {};
    const stored = (await this.store.secrets.list({ environment })).filter((secret) => secret.service === null || secret.service === service);
    // Every service's first (list order), so a service's own value overwrites it.
    for (const secret of stored) values[secret.name] = this.keeper.unseal(secret.sealed);
    const missing = (this.config.environments[environment]?.secrets ?? []).find((name) => !Object.hasOwn(values, name));
    if (missing !== undefined) {
      return err(new SlipwayError('SECRET_MISSING', `secret ${missing} of environment ${environment} is not set; an admin sets it with: slipway secrets set ${environment} ${missing}`));
    }
    return ok(values);
  }

  async list(environment?: string): Promise<SecretEntry[]> {
    if (environment !== undefined) this.checkEnvironment(environment);
    return (await this.store.secrets.list({ environment })).map(({ sealed: _sealed, ...entry }) => entry);
  }

  /** Sets or replaces a secret; the change, never the value, is in the audit log. */
  async set(target: SecretTarget, value: string, actor: string): Promise<SecretEntry> {
    this.checkTarget(target);
    if (value.length === 0) throw new SlipwayError('BAD_REQUEST', `the value of secret ${target.name} is empty`);
    if (Buffer.byteLength(value) > MAX_VALUE_BYTES) throw new SlipwayError('BAD_REQUEST', `the value of secret ${target.name} is over ${MAX_VALUE_BYTES / 1024} KiB`);
    const entry: SecretEntry = { ...target, updatedAt: this.now().toISOString(), updatedBy: actor };
    await this.store.transaction(async (tx) => {
      await tx.secrets.set({ ...entry, sealed: this.keeper.seal(value) });
      await tx.events.append({ type: 'secret.set', runId: null, service: target.service, environment: target.environment, actor, data: { name: target.name } });
    });
    return entry;
  }

  async delete(target: SecretTarget, actor: string): Promise<void> {
    this.checkTarget(target);
    const deleted = await this.store.transaction(async (tx) => {
      if (!(await tx.secrets.delete(target.environment, target.service, target.name))) return false;
      await tx.events.append({ type: 'secret.deleted', runId: null, service: target.service, environment: target.environment, actor, data: { name: target.name } });
      return true;
    });
    if (!deleted) throw new SlipwayError('SECRET_NOT_FOUND', `environment ${target.environment} has no secret ${target.name}${target.service ? ` for service ${target.service}` : ''}`);
  }

  /**
   * A new key for every sealed value (environment and webhook secrets), crash-safe: the new key
   * is written beside the old, every value re-sealed in one transaction, then the key file
   * replaced (box.ts). Returns how many values were re-sealed.
   */
  async rotateKey(actor: string): Promise<{ resealed: number; keyId: string }> {
    let rotated: SecretBox;
    try {
      rotated = this.keeper.box.beginRotation();
    } catch (error) {
      throw new SlipwayError('KEY_ROTATION_UNAVAILABLE', (error as Error).message);
    }
    const resealed = await this.resealWith(rotated, actor, 'secret.key_rotated');
    rotated.commitRotation();
    this.keeper.box = rotated;
    return { resealed, keyId: rotated.keyId };
  }

  /** After a rotation cut short (or with SLIPWAY_SECRET_KEY_PREVIOUS set): every value under the current key. */
  async finishInterruptedRotation(): Promise<number> {
    const box = this.keeper.box;
    if (!box.interruptedRotation) return 0;
    const resealed = await this.resealWith(box, null, 'secret.key_resealed');
    box.finishInterruptedRotation();
    return resealed;
  }

  private async resealWith(box: SecretBox, actor: string | null, eventType: string): Promise<number> {
    return this.store.transaction(async (tx) => {
      const secrets: SealedSecret[] = (await tx.secrets.list()).filter((secret) => !box.isCurrent(secret.sealed));
      await tx.secrets.reseal(secrets.map((secret) => ({ ...secret, sealed: box.seal(box.unseal(secret.sealed)) })));
      const hooks = (await tx.webhookSecrets.list()).filter((secret) => !box.isCurrent(secret.sealed));
      for (const hook of hooks) await tx.webhookSecrets.set(hook.forge, hook.repository, box.seal(box.unseal(hook.sealed)));
      await tx.events.append({ type: eventType, runId: null, service: null, actor, data: { keyId: box.keyId, resealed: secrets.length + hooks.length } });
      return secrets.length + hooks.length;
    });
  }

  private checkTarget(target: SecretTarget): void {
    this.checkEnvironment(target.environment);
    if (target.service !== null && !Object.hasOwn(this.config.services, target.service)) {
      throw new SlipwayError('SERVICE_NOT_FOUND', `unknown service ${target.service}`);
    }
    if (!NAME.test(target.name)) throw new SlipwayError('BAD_REQUEST', `secret name ${JSON.stringify(target.name)} is not a variable name (letters, digits and _, not starting with a digit)`);
  }

  private checkEnvironment(environment: string): void {
    if (!Object.hasOwn(this.config.environments, environment)) {
      const known = Object.keys(this.config.environments).join(', ') || 'none';
      throw new SlipwayError('ENVIRONMENT_NOT_FOUND', `unknown environment ${environment} (known environments: ${known})`);
    }
  }
}
