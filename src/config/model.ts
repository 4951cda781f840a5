// The shape of slipway.yml. The schema is the documentation: every field a user may write
// is here, with its default. Loading (YAML -> this model, with file:line:col errors) is in load.ts.

import picomatch from 'picomatch';
import { z } from 'zod';
import { CONCURRENCY_POLICIES, type ConcurrencyPolicy } from '../core/types.ts';
import { validateSchedule } from '../triggers/schedules.ts';
import { checkDelivery, deliveryFields } from './delivery.ts';
import { checkIntegration, Infrastructure, serviceIntegrationFields } from './integration.ts';
import { PreviewSettings } from './previews.ts';
import { checkNotifications, Notifications } from './notifications.ts';
import { checkRolloutTarget, environmentRolloutFields, ProxySettings, serviceRolloutFields } from './rollout.ts';
import { ByteSize, Duration, SecretValue, Variables } from './units.ts';

export { ByteSize, Duration, SecretValue } from './units.ts';

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** `what` carries its article ("a service", "an environment"): messages read as sentences. */
const name = (what: string) =>
  z.string().regex(NAME, `expected ${what} name of lower-case letters, digits, '-' and '_'`);


/**
 * What one step may use: memory (its container is killed past it, and the stage fails saying
 * so), CPUs (a share, never a failure) and processes. Each level (top-level `resources`, a
 * pipeline stage's, a service's stage override) sets what it names; the rest comes from above.
 */
export const Resources = z
  .object({
    memory: ByteSize.optional(),
    cpus: z.number({ error: 'expected a number of CPUs such as 0.5 or 2' }).positive().max(1024).optional(),
    pids: z.number({ error: 'expected a number of processes' }).int().min(8).max(1_000_000).optional(),
  })
  .strict();
export type Resources = z.output<typeof Resources>;

/** Limits of a step when nothing narrower is set: enough for a typical build or test suite. */
export const DEFAULT_RESOURCES = { memory: 2 * 1024 ** 3, cpus: 2, pids: 1024 } as const;
export type StepLimits = { memory: number; cpus: number; pids: number };

/** What a stage's steps may use: the service's stage override, else the pipeline stage's, else the top level's, else the defaults. */
export function resourcesFor(config: Config, serviceName: string, stageName: string): StepLimits {
  const stage = config.pipeline.find((candidate) => candidate.name === stageName);
  const layers = [config.services[serviceName]?.stages[stageName]?.resources, stage?.resources, config.resources];
  const pick = <K extends keyof StepLimits>(key: K): StepLimits[K] => (layers.find((layer) => layer?.[key] !== undefined)?.[key] ?? DEFAULT_RESOURCES[key]) as StepLimits[K];
  return { memory: pick('memory'), cpus: pick('cpus'), pids: pick('pids') };
}

/** How much of a step's output is kept: a line past `line` is cut, a stage's log past `stage` stops. */
export const LogLimits = z
  .object({
    line: ByteSize.prefault('64KiB'),
    stage: ByteSize.prefault('50MiB'),
  })
  .strict();
export type LogLimits = z.output<typeof LogLimits>;

/** What a pull request from a fork may do: nothing, its command stages without secrets in containers, or all a pull request may. */
export const FORK_PULL_REQUEST_POLICIES = ['skip', 'untrusted', 'trusted'] as const;
export type ForkPullRequestPolicy = (typeof FORK_PULL_REQUEST_POLICIES)[number];
const ForkPolicy = z.enum(FORK_PULL_REQUEST_POLICIES, { error: `expected one of ${FORK_PULL_REQUEST_POLICIES.join(', ')}` });

/** Git tag globs ("v*", "release-*") whose runs deploy; a tag that matches none runs up to the build. */
const DeployTags = z.array(z.string().min(1));

/** How long an integration stage's containers may take to be ready, unless the stage says otherwise. */
export const DEFAULT_READY_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_TIMEOUT_MS = { command: 30 * 60_000, build: 30 * 60_000, integration: 30 * 60_000, preview: 15 * 60_000, deploy: 10 * 60_000 } as const;

/**
 * One stage of the shared pipeline. Its kind follows from what it says: `run` makes a command
 * stage, `environment` a deploy stage, and a stage named `build` (or `type: build`) builds the
 * service's image. `type: integration` starts the service with what it requires and runs its
 * integration suite: `run` in its toolchain image, or the image of the test-suite service `suite`.
 * `type: preview` gives a pull request's run a preview environment (config/previews.ts).
 * Commands may use {{ service.<field> }} placeholders.
 */
export const PipelineStage = z
  .object({
    stage: name('a stage'),
    type: z.enum(['command', 'build', 'integration', 'preview', 'deploy']).optional(),
    run: z.string().min(1).optional(),
    /** An integration stage's test-suite service, for every service that sets no suite of its own. */
    suite: z.string().min(1).optional(),
    /** How long an integration or preview stage's containers together may take to be ready (5 minutes by default). */
    ready_timeout: Duration.optional(),
    environment: name('an environment').optional(),
    timeout: Duration.optional(),
    resources: Resources.optional(),
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
    if (stage.ready_timeout !== undefined && kind !== 'integration' && kind !== 'preview') {
      ctx.addIssue({ code: 'custom', message: `"ready_timeout" is only for integration and preview stages, and ${stage.stage} is a ${kind} stage`, path: ['ready_timeout'] });
      return z.NEVER;
    }
    const foreign = kind === 'preview' ? (['run', 'suite', 'environment'] as const).find((field) => stage[field] !== undefined) : undefined;
    if (foreign) {
      ctx.addIssue({ code: 'custom', message: `preview stage ${stage.stage} takes no "${foreign}": it starts the system the previews setting describes`, path: [foreign] });
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
      suite: stage.suite ?? null,
      readyTimeoutMs: kind === 'integration' || kind === 'preview' ? (stage.ready_timeout ?? DEFAULT_READY_TIMEOUT_MS) : null,
      timeoutMs: stage.timeout ?? DEFAULT_TIMEOUT_MS[kind],
      resources: stage.resources ?? null,
    };
  });
export type PipelineStage = z.output<typeof PipelineStage>;

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A place releases are deployed to. The pipeline's deploy stages, in order, are the chain a
 * release goes through; the delivery fields (config/delivery.ts) say what holds a release at
 * this environment's gate and how long it soaks here.
 */
export const Environment = z
  .object({
    ...environmentRolloutFields,
    /** How long a new instance may take to pass its health check. */
    // prefault, not default: zod 4 returns a default as-is, and 60 must pass through Duration to become ms.
    health_timeout: Duration.prefault(60),
    variables: Variables.default({}),
    /** Names of the secrets this environment's stages need; their values are set with `slipway secrets set`, never written here. */
    secrets: z.array(z.string().regex(SECRET_NAME, 'expected a variable name such as DATABASE_PASSWORD')).default([]),
    ...deliveryFields,
  })
  .strict()
  .superRefine((environment, ctx) => {
    checkDelivery(environment, ctx);
    checkRolloutTarget(environment, ctx);
  });
export type Environment = z.output<typeof Environment>;

const Policy = z.enum(CONCURRENCY_POLICIES, { error: `expected one of ${CONCURRENCY_POLICIES.join(', ')}` });

/**
 * What a new run does to the runs already in flight in its lane (see ConcurrencyPolicy).
 * `branches` is one policy for every branch, or branch patterns (globs such as "release/*")
 * to policies, the first match winning.
 */
export const Concurrency = z
  .object({
    pull_requests: Policy.optional(),
    branches: z
      .union([Policy, z.record(z.string().min(1), Policy)], {
        error: `expected one of ${CONCURRENCY_POLICIES.join(', ')}, or branch patterns mapped to them`,
      })
      .optional(),
  })
  .strict();
export type Concurrency = z.output<typeof Concurrency>;

const DEFAULT_CONCURRENCY = { pull_requests: 'supersede', branches: 'queue' } as const;

/** The policy for a lane: the service's setting, else the pipeline's, else the default. */
export function concurrencyFor(config: Config, serviceName: string, lane: { pullRequest: boolean; branch: string }): ConcurrencyPolicy {
  const layers = [config.services[serviceName]?.concurrency, config.concurrency];
  if (lane.pullRequest) return layers.find((layer) => layer?.pull_requests)?.pull_requests ?? DEFAULT_CONCURRENCY.pull_requests;
  for (const layer of layers) {
    const branches = layer?.branches;
    if (typeof branches === 'string') return branches;
    for (const [pattern, policy] of Object.entries(branches ?? {})) {
      if (picomatch.isMatch(lane.branch, pattern)) return policy;
    }
  }
  return DEFAULT_CONCURRENCY.branches;
}

const ScheduleFields = {
  cron: z.string().min(1),
  timezone: z.string().min(1).default('UTC'),
  /** The branch, tag or sha to run; each service's own branch when omitted. */
  ref: z.string().min(1).optional(),
  variables: Variables.default({}),
};

function checkSchedule(schedule: { cron: string; timezone: string }, ctx: z.RefinementCtx): void {
  const problem = validateSchedule(schedule.cron, schedule.timezone);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [problem.includes('time zone') ? 'timezone' : 'cron'] });
}

/** A schedule of one service. */
const ServiceSchedule = z
  .object({ name: name('a schedule'), ...ScheduleFields })
  .strict()
  .superRefine(checkSchedule);

/** A pipeline-wide schedule: runs the listed services (all when omitted) at each tick. */
const PipelineSchedule = z
  .object({ name: name('a schedule'), services: z.array(name('a service')).min(1).optional(), ...ScheduleFields })
  .strict()
  .superRefine(checkSchedule);

/** A path inside the repository: '/'-separated, relative, without '..'. */
const RepositoryPath = z
  .string()
  .min(1)
  .refine((path) => !path.startsWith('/') && !path.split('/').includes('..'), 'expected a path inside the repository (relative, without "..")')
  .transform((path) => path.replace(/\/+$/, '') || '.');

/** A service's replacement for one pipeline stage: a different command (or test-suite service), or `skip: true`. */
const StageOverride = z
  .object({
    run: z.string().min(1).optional(),
    suite: z.string().min(1).optional(),
    skip: z.boolean().optional(),
    timeout: Duration.optional(),
    resources: Resources.optional(),
  })
  .strict();

export const Service = z
  .object({
    /** Any git URL, or a path (relative to the config file). */
    repo: z.string().min(1),
    branch: z.string().min(1).default('main'),
    /** The service's folder inside the repository (a monorepo); "." for the whole repo. */
    path: RepositoryPath.default('.'),
    /**
     * Other folders or files of the repository the service is built from (a shared library):
     * a push changing them runs the service too.
     */
    depends_on_paths: z.array(RepositoryPath).default([]),
    /** Check the repository for new commits this often, where no webhook or hook can reach Slipway. */
    poll: Duration.optional(),
    schedules: z.array(ServiceSchedule).default([]),
    concurrency: Concurrency.optional(),
    /** Image in which command stages run. */
    toolchain: z.string().min(1).optional(),
    lint: z.string().min(1).optional(),
    test: z.string().min(1).optional(),
    /** Dockerfile and build context, relative to `path`. */
    dockerfile: z.string().min(1).default('Dockerfile'),
    context: z.string().min(1).default('.'),
    /** The port the service listens on inside its container (and its neighbours call it on). */
    port: z.number().int().min(1).max(65535).optional(),
    ...serviceRolloutFields,
    ...serviceIntegrationFields,
    variables: Variables.default({}),
    /**
     * Variables marked secret (`{ env: NAME }` reads one from the server's environment): given to
     * steps and deployed containers like variables, never to an untrusted run's steps.
     */
    secrets: z.record(z.string(), SecretValue).default({}),
    /** Git tag globs whose runs deploy; the pipeline's `deploy_tags` when omitted. */
    deploy_tags: DeployTags.optional(),
    /** Free-form parameters for {{ service.vars.<name> }} placeholders. */
    vars: Variables.default({}),
    stages: z.record(name('a stage'), StageOverride).default({}),
  })
  .strict();
export type Service = z.output<typeof Service>;

/** A repository's own settings: its webhook secret, where it differs from the forge-wide one, and what its forks' pull requests may do. */
const ForgeRepository = z.object({ secret: SecretValue.optional(), fork_pull_requests: ForkPolicy.optional() }).strict();

/**
 * One forge Slipway hears from and reports to. Services belong to it when their repo URL is
 * on the forge's host. Without a token no commit status is reported; without a secret (here
 * or per repository, in this file or set through the API) its webhooks are refused.
 */
export const ForgeSettings = z
  .object({
    /** The forge's web address; github.com and gitlab.com by default. */
    url: z.url({ error: 'expected a URL such as https://git.example.com' }).optional(),
    /** Its API; derived from `url` when omitted. */
    api_url: z.url({ error: 'expected a URL' }).optional(),
    token: SecretValue.optional(),
    /** The webhook secret for every repository of this forge (an installation-wide secret). */
    secret: SecretValue.optional(),
    /** What pull requests from forks may do, for every repository of this forge: `untrusted` by default. */
    fork_pull_requests: ForkPolicy.optional(),
    repositories: z.record(z.string().min(1), ForgeRepository).default({}),
  })
  .strict();
export type ForgeSettings = z.output<typeof ForgeSettings>;

export const Config = z
  .object({
    /** host[:port] of the registry that receives built images. */
    registry: z.string().min(1).optional(),
    pipeline: z.array(PipelineStage).min(1, 'expected at least one stage'),
    environments: z.record(name('an environment'), Environment).default({}),
    services: z.record(name('a service'), Service),
    /** Containers integration stages start beside the services that require them (a database, a cache, a mock). */
    infrastructure: z.record(name('an infrastructure container'), Infrastructure).default({}),
    server: z
      .object({
        /** Where people reach this server: commit statuses link to runs under it. */
        url: z.url({ error: 'expected a URL such as https://ci.example.com' }).optional(),
      })
      .strict()
      .default({}),
    forges: z
      .object({ github: ForgeSettings.optional(), gitlab: ForgeSettings.optional(), gitea: ForgeSettings.optional() })
      .strict()
      .default({}),
    concurrency: Concurrency.optional(),
    schedules: z.array(PipelineSchedule).default([]),
    /** Git tag globs whose runs deploy, for every service; without it a tag's run stops after the build. */
    deploy_tags: DeployTags.default([]),
    /** Every step's limits, unless a stage or service says otherwise. */
    resources: Resources.optional(),
    logs: LogLimits.prefault({}),
    /** The reverse proxy every deployed service is reached through. */
    proxy: ProxySettings.prefault({}),
    /** Channels people are told through (chat, webhooks, e-mail) and what each wants to hear. */
    notifications: Notifications.prefault({}),
    /** Pull requests' preview environments: how long they live, how many at once, who runs in them. */
    previews: PreviewSettings.prefault({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    checkNotifications(config, ctx);
    checkIntegration(config, ctx);
    const seen = new Set<string>();
    config.pipeline.forEach((stage, index) => {
      if (seen.has(stage.name)) {
        ctx.addIssue({ code: 'custom', path: ['pipeline', index, 'stage'], message: `stage ${stage.name} appears twice in the pipeline` });
      }
      seen.add(stage.name);
      if (stage.environment && !Object.hasOwn(config.environments, stage.environment)) {
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
    if (config.forges.gitea && !config.forges.gitea.url) {
      ctx.addIssue({ code: 'custom', path: ['forges', 'gitea'], message: 'gitea has no public address to default to: set "url"' });
    }
    const scheduleNames = new Set<string>();
    config.schedules.forEach((schedule, index) => {
      if (scheduleNames.has(schedule.name)) {
        ctx.addIssue({ code: 'custom', path: ['schedules', index, 'name'], message: `schedule ${schedule.name} appears twice` });
      }
      scheduleNames.add(schedule.name);
      (schedule.services ?? []).forEach((service, serviceIndex) => {
        if (!Object.hasOwn(config.services, service)) {
          ctx.addIssue({ code: 'custom', path: ['schedules', index, 'services', serviceIndex], message: `service ${service} is not defined under "services"` });
        }
      });
    });
    const deploys = config.pipeline.some((stage) => stage.kind === 'deploy');
    for (const [serviceName, service] of Object.entries(config.services)) {
      for (const stageName of Object.keys(service.stages)) {
        if (!seen.has(stageName)) {
          ctx.addIssue({ code: 'custom', path: ['services', serviceName, 'stages', stageName], message: `the pipeline has no stage ${stageName}` });
        }
      }
      const clash = Object.keys(service.secrets).find((secretName) => Object.hasOwn(service.variables, secretName));
      if (clash) {
        ctx.addIssue({ code: 'custom', path: ['services', serviceName, 'secrets', clash], message: `${clash} is both a variable and a secret of service ${serviceName}` });
      }
      if (deploys && service.port === undefined && !service.test_suite) {
        ctx.addIssue({ code: 'custom', path: ['services', serviceName], message: `service ${serviceName} needs "port": the pipeline deploys it` });
      }
    }
  });
export type Config = z.output<typeof Config>;

/** Whether a run of this tag deploys: it matches the service's `deploy_tags`, or the pipeline's when the service sets none. */
export function tagDeploys(config: Config, serviceName: string, tag: string): boolean {
  const patterns = config.services[serviceName]?.deploy_tags ?? config.deploy_tags;
  return patterns.some((pattern) => picomatch.isMatch(tag, pattern));
}

/** What a fork's pull requests may do in a repository of a forge: its own setting, else the forge's, else `untrusted`. */
export function forkPolicyFor(config: Config, forge: 'github' | 'gitlab' | 'gitea', fullName: string): ForkPullRequestPolicy {
  const settings = config.forges[forge];
  const own = Object.entries(settings?.repositories ?? {}).find(([name]) => name.toLowerCase() === fullName.toLowerCase())?.[1];
  return own?.fork_pull_requests ?? settings?.fork_pull_requests ?? 'untrusted';
}
