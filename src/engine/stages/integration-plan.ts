// Who takes part in a service's integration environment, decided from the configuration alone:
// the service under test, everything it requires, and everything those require in turn (each
// once, whoever names it first), services before infrastructure in the order they were named.
// A preview adds companions: other services started beside it, with what they require in turn.
// Pure; engine/stages/members.ts finds their images.

import type { Config } from '../../config/model.ts';

export type Participant =
  | { kind: 'tested'; name: string }
  | { kind: 'service'; name: string; pinnedRelease: number | null }
  | { kind: 'infrastructure'; name: string };

export function participantsOf(config: Config, serviceName: string, companions: readonly string[] = []): Participant[] {
  const participants: Participant[] = [{ kind: 'tested', name: serviceName }];
  const seen = new Set([serviceName]);
  const queue = [serviceName];
  const waiting = [...companions];
  while (queue.length > 0 || waiting.length > 0) {
    if (queue.length === 0) {
      // What the service under test requires (and pins) first; then its companions.
      const companion = waiting.shift()!;
      if (seen.has(companion)) continue;
      seen.add(companion);
      participants.push({ kind: 'service', name: companion, pinnedRelease: null });
      queue.push(companion);
    }
    const current = config.services[queue.shift()!];
    for (const requirement of current?.requires ?? []) {
      if (seen.has(requirement.name)) continue;
      seen.add(requirement.name);
      if (Object.hasOwn(config.services, requirement.name)) {
        participants.push({ kind: 'service', name: requirement.name, pinnedRelease: requirement.release });
        queue.push(requirement.name);
      } else {
        participants.push({ kind: 'infrastructure', name: requirement.name });
      }
    }
  }
  return [...participants.filter((participant) => participant.kind !== 'infrastructure'), ...participants.filter((participant) => participant.kind === 'infrastructure')];
}

/** The first environment of the chain (the first deploy stage's): required services run the release serving there. */
export function firstEnvironment(config: Config): string | null {
  return config.pipeline.find((stage) => stage.kind === 'deploy')?.environment ?? null;
}

/** Every service a preview of `all` starts beside the pull request's: those deployed with a port, test suites aside. */
export function deployableServices(config: Config): string[] {
  return Object.entries(config.services)
    .filter(([, service]) => service.port !== undefined && !service.test_suite)
    .map(([name]) => name);
}
