// The bake window's judgement, pure: after traffic moved, the new release's instances are
// watched; one that fails its health check, or more errors from them than the environment
// allows, rolls it back. The evidence is worded for the stage log and the notification.

import type { InstanceHealth } from '../deployers/deployer.ts';

export type BakeVerdict = { ok: true } | { ok: false; evidence: string[] };

export function judgeBake(observed: InstanceHealth[], allowedErrors: number): BakeVerdict {
  const evidence: string[] = [];
  for (const instance of observed) {
    if (!instance.healthy) evidence.push(`instance ${instance.instance.slice(0, 12)} failed its health check: ${instance.lastCheck}`);
  }
  const errors = observed.reduce((sum, instance) => sum + instance.errors, 0);
  if (errors >= allowedErrors) evidence.push(`the proxy saw ${errors} error${errors === 1 ? '' : 's'} from the new release (the bake rolls back at ${allowedErrors})`);
  return evidence.length === 0 ? { ok: true } : { ok: false, evidence };
}
