// What the container-host deployer writes on the engine, and how it reads it back after a
// restart. Containers are found by label, never by name alone: the `owner` label keeps two
// Slipway instances sharing one engine out of each other's containers.
//
// A container's name is the one thing about it that can change after it is created, so it
// carries the deploy's progress for a server that dies mid-deploy (see deployer.ts): a new
// instance starts as "<name>-candidate" and is renamed "<name>" once its health check passed,
// before any traffic moves to it. A candidate never served.

import type Docker from 'dockerode';

export const LABEL = {
  owner: 'slipway.owner',
  service: 'slipway.service',
  environment: 'slipway.environment',
  release: 'slipway.release',
  digest: 'slipway.digest',
  deployment: 'slipway.deployment',
  /** The port it listens on, where the proxy reaches it. */
  port: 'slipway.port',
  /** The instance's name on the proxy, unique within its service and environment. */
  backend: 'slipway.backend',
  /** A one-off container (a migration, a smoke test): never an instance that serves. */
  task: 'slipway.task',
  /** When it was placed, to the millisecond: the engine's own creation time counts whole seconds. */
  placedAt: 'slipway.placed-at',
} as const;

const CANDIDATE_SUFFIX = '-candidate';

/** A name made safe for the engine: anything but letters, digits, '_', '.' and '-' becomes '-'. */
export function part(text: string): string {
  return text.replace(/[^a-zA-Z0-9_.-]+/g, '-');
}

/** The proxy's name for replica `replica` placed by deployment `deploymentId`. */
export function backendId(deploymentId: number, replica: number): string {
  return `d${deploymentId}-${replica}`;
}

export function instanceName(owner: string, service: string, environment: string, backend: string): string {
  return `slipway-${part(owner)}-${part(service)}-${part(environment)}-${backend}`;
}

export function candidateName(name: string): string {
  return `${name}${CANDIDATE_SUFFIX}`;
}

export function taskName(owner: string, service: string, environment: string, deploymentId: number, task: string): string {
  return `slipway-${part(owner)}-${part(service)}-${part(environment)}-d${deploymentId}-${part(task)}`;
}

/** A container whose health check has not passed (yet), or a one-off task: neither ever served. */
export function isProven(container: Docker.ContainerInfo): boolean {
  return !container.Labels[LABEL.task] && !container.Names.some((name) => name.endsWith(CANDIDATE_SUFFIX));
}

/** Its address on the environment's network, where the proxy reaches it. */
export function addressOn(container: Docker.ContainerInfo, network: string, port: number): string | null {
  const ip = container.NetworkSettings?.Networks?.[network]?.IPAddress;
  return ip ? `${ip}:${port}` : null;
}
