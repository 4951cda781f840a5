// How a release rolls out in an environment: its target, replicas and batches, the health check
// that gates each instance, the drain, the bake window that rolls a bad release back, and the
// commands around it (migrations before, smoke tests after). model.ts spreads these fields into
// environments (`environmentRolloutFields`) and services (`serviceRolloutFields`).

import { z } from 'zod';
import type { HealthCheck } from '../routers/router.ts';
import { Duration } from './units.ts';

const Count = (what: string) => z.number({ error: `expected ${what} as a whole number` }).int(`expected ${what} as a whole number`).min(1, `expected at least 1 ${what}`);

/** A duration, or 0 for none. */
const DurationOrNone = z.union([z.literal(0), Duration], { error: 'expected a duration such as 30s, 10m or 1h, or 0 for none' });

/** One command, or several run in order. */
const Commands = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((value) => (typeof value === 'string' ? [value] : value));

/** Any command (kubectl, helm, ssh, a script) in an image of the user's choice: docs/command-target.md. */
const CommandTarget = z
  .object({
    image: z.string().min(1),
    run: z.string().min(1),
    timeout: Duration.prefault('10m'),
  })
  .strict();

export const environmentRolloutFields = {
  target: z.enum(['container-host', 'command']).default('container-host'),
  /** What a `command` target runs. */
  command: CommandTarget.optional(),
  /** Instances of each service here, unless a service says otherwise. */
  replicas: Count('replicas').default(1),
  /** Instances started and switched to at once. */
  batch: Count('instances per batch').default(1),
  /** How long requests in flight on a replaced instance may take to finish. */
  drain_timeout: Duration.prefault('30s'),
  /** How long the previous release stands by after traffic moves, while the new one is watched. */
  bake: DurationOrNone.prefault('1m'),
  /** Errors the proxy may see from the new release during the bake before it is rolled back. */
  bake_errors: Count('errors').default(5),
};

export function checkRolloutTarget(environment: { target: string; command?: unknown }, ctx: z.RefinementCtx): void {
  if (environment.target === 'command' && !environment.command) {
    ctx.addIssue({ code: 'custom', path: ['command'], message: 'target command needs "command" with an image and what to run' });
  }
  if (environment.target !== 'command' && environment.command) {
    ctx.addIssue({ code: 'custom', path: ['command'], message: '"command" is only for target: command' });
  }
}

/** A path, or the whole check. */
const Health = z
  .union([
    z.string().startsWith('/', 'expected a path starting with /'),
    z
      .object({
        path: z.string().startsWith('/', 'expected a path starting with /').default('/'),
        interval: Duration.prefault('1s'),
        timeout: Duration.prefault('2s'),
        /** Passes in a row before an instance takes traffic. */
        successes: Count('successes').default(1),
        /** Failures in a row before an instance is taken out of rotation. */
        failures: Count('failures').default(2),
      })
      .strict(),
  ])
  .default('/')
  .transform((value): HealthCheck => (typeof value === 'string' ? { path: value, intervalMs: 1000, timeoutMs: 2000, successes: 1, failures: 2 } : { path: value.path, intervalMs: value.interval, timeoutMs: value.timeout, successes: value.successes, failures: value.failures }));

/** A host name a container answers to besides its own. */
export const ALIAS = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const serviceRolloutFields = {
  /** The health check that gates each instance: a path, or { path, interval, timeout, successes, failures }. */
  health: Health,
  /** Other names the environment's services may call it by (its service name always works). */
  aliases: z.array(z.string().regex(ALIAS, 'expected a host name such as payments-api')).default([]),
  /** Instances, in every environment or per environment ({ production: 3 }). */
  replicas: z.union([Count('replicas'), z.record(z.string(), Count('replicas'))]).optional(),
  /** Run in the release's image, with the environment's variables and secrets, before traffic moves (migrations). */
  pre_deploy: Commands.default([]),
  /** Run after traffic moved, against the new release at SLIPWAY_URL (smoke tests); a failure rolls back. */
  post_deploy: Commands.default([]),
  /** Images of earlier releases kept on the host, so a rollback needs no pull. */
  keep_images: Count('images').default(5),
};

/** A service's replicas in one environment. */
export function replicasFor(service: { replicas?: number | Record<string, number> }, environment: { replicas: number }, environmentName: string): number {
  const own = service.replicas;
  if (typeof own === 'number') return own;
  return own?.[environmentName] ?? environment.replicas;
}

export const Port = z.number().int().min(1).max(65535);

/** Where the proxy listens: every service's address by host name on `port`, and each its own port from `route_ports`. */
export const ProxySettings = z
  .object({
    address: z.string().min(1).default('127.0.0.1'),
    port: Port.default(8480),
    route_ports: z
      .object({ from: Port, to: Port })
      .strict()
      .refine((range) => range.from <= range.to, 'expected from <= to')
      .default({ from: 20000, to: 20999 }),
  })
  .strict();
export type ProxySettings = z.output<typeof ProxySettings>;
