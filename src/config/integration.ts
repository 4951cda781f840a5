// What a service needs beside it to run, for its integration stage (engine/stages/integration.ts):
// the other services it calls (`requires`) and the infrastructure containers (a database, a
// cache, a mock of an outside API) defined once under `infrastructure` and shared by every
// service that names them. A test-suite service is built and versioned like any other and never
// deployed: its image's own command runs another service's integration suite.

import { z } from 'zod';
import { ALIAS, Port } from './rollout.ts';
import { Duration, Variables } from './units.ts';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** How Slipway knows an infrastructure container is ready: an HTTP path, a command run inside it, or (by default) its port taking connections. */
export type ReadinessCheck =
  | { kind: 'http'; path: string; intervalMs: number; timeoutMs: number }
  | { kind: 'command'; command: string; intervalMs: number; timeoutMs: number }
  | { kind: 'port'; intervalMs: number; timeoutMs: number }
  | { kind: 'running' };

const CheckTiming = { interval: Duration.prefault('1s'), timeout: Duration.prefault('5s') };

const InfrastructureHealth = z.union(
  [
    z.string().startsWith('/', 'expected a path starting with /'),
    z.object({ path: z.string().startsWith('/', 'expected a path starting with /'), ...CheckTiming }).strict(),
    z.object({ command: z.string().min(1), ...CheckTiming }).strict(),
  ],
  { error: 'expected a path such as /healthz, { path, interval, timeout } or { command, interval, timeout }' },
);

/** A container an integration environment starts from an image on the host (or one the engine may pull). */
export const Infrastructure = z
  .object({
    image: z.string().min(1),
    /** Its command, when not the image's own. */
    command: z.array(z.string().min(1)).min(1).optional(),
    port: Port.optional(),
    aliases: z.array(z.string().regex(ALIAS, 'expected a host name such as db')).default([]),
    variables: Variables.default({}),
    health: InfrastructureHealth.optional(),
  })
  .strict()
  .transform((infrastructure) => ({ ...infrastructure, health: readinessOf(infrastructure.health, infrastructure.port) }));
export type Infrastructure = z.output<typeof Infrastructure>;

function readinessOf(health: z.output<typeof InfrastructureHealth> | undefined, port: number | undefined): ReadinessCheck {
  if (typeof health === 'string') return { kind: 'http', path: health, intervalMs: 1000, timeoutMs: 5000 };
  if (health && 'path' in health) return { kind: 'http', path: health.path, intervalMs: health.interval, timeoutMs: health.timeout };
  if (health) return { kind: 'command', command: health.command, intervalMs: health.interval, timeoutMs: health.timeout };
  return port === undefined ? { kind: 'running' } : { kind: 'port', intervalMs: 1000, timeoutMs: 5000 };
}

/** A service or infrastructure container a service needs; a service may be pinned to a release. */
const Requirement = z
  .union(
    [
      z.string().regex(NAME, 'expected the name of a service or an infrastructure container'),
      z.object({ name: z.string().regex(NAME, 'expected the name of a service'), release: z.number().int().min(1) }).strict(),
    ],
    { error: 'expected a name, or { name, release } to pin a service to a release' },
  )
  .transform((value) => (typeof value === 'string' ? { name: value, release: null } : value));
export type Requirement = z.output<typeof Requirement>;

export const serviceIntegrationFields = {
  /** Services and infrastructure containers its integration stage starts beside it. */
  requires: z.array(Requirement).default([]),
  /** Built and versioned like any other service, never deployed: its image's command runs an integration suite. */
  test_suite: z.boolean().default(false),
};

interface CheckedConfig {
  infrastructure: Record<string, Infrastructure>;
  services: Record<string, { requires: Requirement[]; test_suite: boolean; port?: number; stages: Record<string, { suite?: string }> }>;
  pipeline: Array<{ name: string; kind: string; suite: string | null }>;
}

/** Names under `requires` and `suite` exist and mean what they are used for. */
export function checkIntegration(config: CheckedConfig, ctx: z.RefinementCtx): void {
  for (const name of Object.keys(config.infrastructure)) {
    if (Object.hasOwn(config.services, name)) {
      ctx.addIssue({ code: 'custom', path: ['infrastructure', name], message: `${name} is both a service and an infrastructure container` });
    }
  }
  for (const [serviceName, service] of Object.entries(config.services)) {
    // Parts that failed their own checks arrive unparsed: those errors are reported already.
    if (!Array.isArray(service.requires)) continue;
    service.requires.forEach((requirement, index) => {
      if (typeof requirement?.name !== 'string') return;
      const path = ['services', serviceName, 'requires', index];
      const required = config.services[requirement.name];
      const problem =
        requirement.name === serviceName
          ? `service ${serviceName} cannot require itself`
          : !required && !Object.hasOwn(config.infrastructure, requirement.name)
            ? `${requirement.name} is neither a service nor an infrastructure container`
            : required?.test_suite
              ? `${requirement.name} is a test suite: it runs integration suites, it is not started beside a service`
              : required && required.port === undefined
                ? `service ${requirement.name} sets no "port" for ${serviceName} to call it on`
                : !required && requirement.release !== null
                  ? `${requirement.name} is an infrastructure container: only a service is pinned to a release`
                  : null;
      if (problem) ctx.addIssue({ code: 'custom', path, message: problem });
    });
    for (const [stageName, override] of Object.entries(service.stages ?? {})) {
      if (typeof override?.suite === 'string') checkSuite(config, override.suite, ['services', serviceName, 'stages', stageName, 'suite'], stageName, ctx);
    }
  }
  config.pipeline.forEach((stage, index) => {
    if (typeof stage.suite === 'string') checkSuite(config, stage.suite, ['pipeline', index, 'suite'], stage.name, ctx);
  });
}

function checkSuite(config: CheckedConfig, suite: string, path: Array<string | number>, stageName: string, ctx: z.RefinementCtx): void {
  const stage = config.pipeline.find((candidate) => candidate.name === stageName);
  if (stage && typeof stage.kind === 'string' && stage.kind !== 'integration') {
    ctx.addIssue({ code: 'custom', path, message: `"suite" is only for integration stages, and ${stageName} is a ${stage.kind} stage` });
  } else if (!config.services[suite]?.test_suite) {
    ctx.addIssue({ code: 'custom', path, message: `${suite} is not a service with "test_suite: true"` });
  }
}
