// The containers of an ephemeral environment (an integration stage's, a preview's): each
// participant as a sandbox member, its image found where the configuration says (this run's
// release, a pinned release, the release serving in the first environment) or built from its
// branch head when it has none, each choice said in the stage's log.

import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadinessCheck } from '../../config/integration.ts';
import type { Service } from '../../config/model.ts';
import { assertNever, type Release } from '../../core/types.ts';
import { pullReference } from '../../deployers/reference.ts';
import type { SandboxMember } from '../../sandboxes/sandbox.ts';
import type { EngineResources, StageContext } from '../resources.ts';
import { buildServiceImage } from './build.ts';
import { firstEnvironment, type Participant } from './integration-plan.ts';

/** A member whose image cannot be had: the stage fails with this message. */
export class MemberFailure extends Error {}

/** A sandbox member, with what it is and the release it runs (null: built from a branch head, or infrastructure). */
export type Member = SandboxMember & { kind: 'service' | 'infrastructure'; releaseId: number | null };

/** The member a participant becomes, its image found (or built) and described in the log. */
export async function memberOf(resources: EngineResources, context: StageContext, participant: Participant, tested: Release): Promise<Member> {
  const { config } = resources;
  switch (participant.kind) {
    case 'tested':
      context.log.system(`${participant.name}: this run's release #${tested.id}`);
      return serviceMember(participant.name, config.services[participant.name]!, { reference: pullReference(tested), releaseId: tested.id });
    case 'service': {
      const image = await imageOfService(resources, context, participant.name, participant.pinnedRelease);
      return serviceMember(participant.name, config.services[participant.name]!, image);
    }
    case 'infrastructure': {
      const infrastructure = config.infrastructure[participant.name]!;
      context.log.system(`${participant.name}: ${infrastructure.image}`);
      return {
        kind: 'infrastructure',
        releaseId: null,
        name: participant.name,
        aliases: infrastructure.aliases,
        image: infrastructure.image,
        command: infrastructure.command ?? null,
        env: infrastructure.variables,
        port: infrastructure.port ?? null,
        readiness: infrastructure.health,
      };
    }
    default:
      return assertNever(participant, 'participant');
  }
}

function serviceMember(name: string, service: Service, image: ServiceImage): Member {
  const readiness: ReadinessCheck = { kind: 'http', path: service.health.path, intervalMs: service.health.intervalMs, timeoutMs: service.health.timeoutMs };
  return { kind: 'service', releaseId: image.releaseId, name, aliases: service.aliases, image: image.reference, command: null, env: { ...service.variables, ...service.secrets }, port: service.port ?? null, readiness };
}

/**
 * A required service's image: its pinned release, else the release serving in the first
 * environment, else (a test suite: its newest release) built from its branch head.
 */
export interface ServiceImage {
  reference: string;
  /** Null for an image built from a branch head. */
  releaseId: number | null;
}

export async function imageOfService(resources: EngineResources, context: StageContext, name: string, pinned: number | null): Promise<ServiceImage> {
  const { store, config } = resources;
  const { log } = context;
  if (pinned !== null) {
    const release = await store.releases.get(pinned);
    if (!release || release.service !== name) throw new MemberFailure(`${name} is pinned to release #${pinned}, which is no release of ${name}`);
    log.system(`${name}: release #${release.id}, pinned in the configuration`);
    return { reference: pullReference(release), releaseId: release.id };
  }
  const environment = firstEnvironment(config);
  if (config.services[name]?.test_suite) {
    const [newest] = await store.releases.list({ service: name, limit: 1 });
    if (newest) {
      log.system(`${name}: its newest release #${newest.id}`);
      return { reference: pullReference(newest), releaseId: newest.id };
    }
    log.system(`${name} has no release yet: building it from the head of ${config.services[name]!.branch}`);
  } else if (environment !== null) {
    const current = await store.deployments.current(name, environment);
    const release = current ? await store.releases.get(current.releaseId) : null;
    if (release) {
      log.system(`${name}: release #${release.id}, serving in ${environment}`);
      return { reference: pullReference(release), releaseId: release.id };
    }
    log.system(`${name} has no release serving in ${environment}: building it from the head of ${config.services[name]!.branch}`);
  } else {
    log.system(`${name}: no environment to take its release from: building it from the head of ${config.services[name]!.branch}`);
  }
  return { reference: await buildFromBranchHead(resources, context, name), releaseId: null };
}

/** Builds a service's branch head into an image (pushed, tagged with its commit), recording no release. */
async function buildFromBranchHead(resources: EngineResources, context: StageContext, name: string): Promise<string> {
  const { config, source, workRoot } = resources;
  const { log, signal } = context;
  const service = config.services[name]!;
  const head = await source.resolve(service.repo, service.branch);
  if (!head.ok) throw new MemberFailure(`cannot build ${name}: ${head.error.message}`);
  const workspace = await mkdtemp(join(workRoot, `head-${name}-`));
  try {
    const checkedOut = await source.checkout(service.repo, head.value, workspace);
    if (!checkedOut.ok) throw new MemberFailure(`cannot build ${name}: ${checkedOut.error.message}`);
    const built = await buildServiceImage(
      resources,
      { name, service, workspace, tag: head.value, aliases: [], labels: {} },
      (line, stream) => void log.line(stream ?? 'stdout', `${name}: ${line}`),
      signal,
    );
    if (!built.ok) throw new MemberFailure(`cannot build ${name}: ${built.error}`);
    log.system(`${name}: built ${head.value.slice(0, 12)} of ${service.branch} (${built.value.digest})`);
    return `${config.registry}/${name}@${built.value.digest}`;
  } finally {
    await rm(workspace, { recursive: true, force: true });
  }
}
