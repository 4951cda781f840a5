// The shape of slipway.yml. The schema is the documentation: every field a user may write
// is here, with its default. Loading (YAML -> this model, with file:line:col errors) is in load.ts.

import { z } from 'zod';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** `what` carries its article ("a service", "an environment"): messages read as sentences. */
const name = (what: string) =>
  z.string().regex(NAME, `expected ${what} name of lower-case letters, digits, '-' and '_'`);

const DURATION_EXPECTED = 'expected a duration such as 30s, 10m or 1h';

/** "90s", "10m", "1h" or a number of seconds -> milliseconds. */
export const Duration = z
  .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h)$/, DURATION_EXPECTED)], {
    error: DURATION_EXPECTED,
  })
  .transform((value) => {
    if (typeof value === 'number') return Math.round(value * 1000);
    const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(value)!;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
    return Math.round(Number(match[1]) * unit);
  });

const Variables = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

export const DEFAULT_TIMEOUT_MS = { command: 30 * 60_000, build: 30 * 60_000, deploy: 10 * 60_000 } as const;

/**
 * One stage of the shared pipeline. Its kind follows from what it says: `run` makes a command
 * stage, `environment` a deploy stage, and a stage named `build` (or `type: build`) builds the
 * service's image. Commands may use {{ service.<field> }} placeholders.
 */
export const PipelineStage = z
  .object({
    stage: name('a stage'),
    type: z.enum(['command', 'build', 'deploy']).optional(),
    run: z.string().min(1).optional(),
    environment: name('an environment').optional(),
    timeout: Duration.optional(),
  })
  .strict()
  .transform((stage, ctx) => {
    const kind = stage.type ?? (stage.run ? 'command' : stage.environment ? 'deploy' : stage.stage === 'build' ? 'build' : null);
    if (kind === null) {
      ctx.addIssue({ code: 'custom', message: `stage ${stage.stage} needs "run" (a command), "environment" (a deploy) or "type: build"` });
      return z.NEVER;
    }
    if (kind === 'command' && !stage.run) {
      ctx.addIssue({ code: 'custom', message: `command stage ${stage.stage} needs "run"`, path: ['run'] });
      return z.NEVER;
    }
    if (kind === 'deploy' && !stage.environment) {
      ctx.addIssue({ code: 'custom', message: `deploy stage ${stage.stage} needs "environment"`, path: ['environment'] });
      return z.NEVER;
    }
    return {
      name: stage.stage,
      kind,
      run: stage.run ?? null,
      environment: stage.environment ?? null,
      timeoutMs: stage.timeout ?? DEFAULT_TIMEOUT_MS[kind],
    };
  });
export type PipelineStage = z.output<typeof PipelineStage>;

export const Environment = z
  .object({
    target: z.enum(['container-host']).default('container-host'),
    /** How long a new release may take to answer its health check. */
    // prefault, not default: zod 4 returns a default as-is, and 60 must pass through Duration to become ms.
    health_timeout: Duration.prefault(60),
    variables: Variables.default({}),
  })
  .strict();
export type Environment = z.output<typeof Environment>;

/** A service's replacement for one pipeline stage: a different command, or `skip: true`. */
const StageOverride = z
  .object({ run: z.string().min(1).optional(), skip: z.boolean().optional(), timeout: Duration.optional() })
  .strict();

export const Service = z
  .object({
    /** Any git URL, or a path (relative to the config file). */
    repo: z.string().min(1),
    branch: z.string().min(1).default('main'),
    /** The service's folder inside the repository (a monorepo); "." for the whole repo. */
    path: z.string().min(1).default('.'),
    /** Image in which command stages run. */
    toolchain: z.string().min(1).optional(),
    lint: z.string().min(1).optional(),
    test: z.string().min(1).optional(),
    /** Dockerfile and build context, relative to `path`. */
    dockerfile: z.string().min(1).default('Dockerfile'),
    context: z.string().min(1).default('.'),
    /** The port the service listens on inside its container, and its health check path. */
    port: z.number().int().min(1).max(65535).optional(),
    health: z.string().startsWith('/', 'expected a path starting with /').default('/'),
    variables: Variables.default({}),
    /** Free-form parameters for {{ service.vars.<name> }} placeholders. */
    vars: Variables.default({}),
    stages: z.record(name('a stage'), StageOverride).default({}),
  })
  .strict();
export type Service = z.output<typeof Service>;

export const Config = z
  .object({
    /** host[:port] of the registry that receives built images. */
    registry: z.string().min(1).optional(),
    pipeline: z.array(PipelineStage).min(1, 'expected at least one stage'),
    environments: z.record(name('an environment'), Environment).default({}),
    services: z.record(name('a service'), Service),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.pipeline.forEach((stage, index) => {
      if (seen.has(stage.name)) {
        ctx.addIssue({ code: 'custom', path: ['pipeline', index, 'stage'], message: `stage ${stage.name} appears twice in the pipeline` });
      }
      seen.add(stage.name);
      if (stage.kind === 'deploy' && stage.environment && !Object.hasOwn(config.environments, stage.environment)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pipeline', index, 'environment'],
          message: `environment ${stage.environment} is not defined under "environments"`,
        });
      }
      if (stage.kind === 'build' && !config.registry) {
        ctx.addIssue({ code: 'custom', path: ['pipeline', index], message: 'a build stage needs a top-level "registry"' });
      }
    });
    const deploys = config.pipeline.some((stage) => stage.kind === 'deploy');
    for (const [serviceName, service] of Object.entries(config.services)) {
      for (const stageName of Object.keys(service.stages)) {
        if (!seen.has(stageName)) {
          ctx.addIssue({ code: 'custom', path: ['services', serviceName, 'stages', stageName], message: `the pipeline has no stage ${stageName}` });
        }
      }
      if (deploys && service.port === undefined) {
        ctx.addIssue({ code: 'custom', path: ['services', serviceName], message: `service ${serviceName} needs "port": the pipeline deploys it` });
      }
    }
  });
export type Config = z.output<typeof Config>;
