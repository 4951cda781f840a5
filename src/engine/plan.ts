// Turns the shared pipeline plus one service's parameters into that service's stages.
// Pure: the same config and service always give the same plan.

import type { Config, Service } from '../config/model.ts';
import type { StageKind } from '../core/types.ts';

export interface PlannedStage {
  name: string;
  kind: StageKind;
  command: string | null;
  environment: string | null;
  timeoutMs: number;
  /** Set when the stage will not run for this service, with the reason shown to users. */
  skipReason: string | null;
}

const CHECKOUT_TIMEOUT_MS = 10 * 60_000;
const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;

type Rendered = { ok: true; text: string } | { ok: false; missing: string };

/**
 * Replaces {{ service.<field> }} and {{ service.vars.<name> }} with the service's values.
 * A placeholder naming a field the service leaves unset makes the whole command unset, so
 * the stage is skipped rather than run with a hole in it.
 */
function renderCommand(template: string, serviceName: string, service: Service): Rendered {
  let missing: string | null = null;
  const text = template.replace(PLACEHOLDER, (whole, expression: string) => {
    const value = lookup(expression, serviceName, service);
    if (value === undefined) missing ??= expression;
    return value ?? whole;
  });
  return missing === null ? { ok: true, text } : { ok: false, missing };
}

function lookup(expression: string, serviceName: string, service: Service): string | undefined {
  const [scope, field, key, ...rest] = expression.split('.');
  if (scope !== 'service' || field === undefined || rest.length > 0) return undefined;
  if (field === 'name' && key === undefined) return serviceName;
  if ((field === 'vars' || field === 'variables') && key !== undefined) return service[field][key];
  if (key !== undefined) return undefined;
  const value = (service as Record<string, unknown>)[field];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

export interface PlanOptions {
  /**
   * Why the run stops after the build: everything up to and including the build runs, no
   * deploy does (a deploy placed before the build is skipped too).
   */
  partial?: string | null;
  /** Untrusted code (a fork's pull request): the command stages run, nothing is built, integrated or deployed. */
  untrusted?: boolean;
  /** A pull request's run: the only kind a preview stage runs in. */
  pullRequest?: boolean;
}

export const PULL_REQUEST_PARTIAL = 'pull request runs stop after the build and never deploy';
const UNTRUSTED_SKIP = "a fork's pull request runs its commands only: nothing is built, pushed or deployed";
const TEST_SUITE_SKIP = (serviceName: string) => `${serviceName} is a test suite: it runs in other services' integration stages, never on its own`;
const NOT_A_PULL_REQUEST = 'only pull requests get a preview';

/** Where an integration stage's suite comes from: the service's own choice first, then the pipeline's. */
export type IntegrationSuite = { kind: 'command'; template: string } | { kind: 'image'; service: string };

export function integrationSuite(config: Config, serviceName: string, stageName: string): IntegrationSuite | null {
  const override = config.services[serviceName]?.stages[stageName];
  const stage = config.pipeline.find((candidate) => candidate.name === stageName);
  if (override?.run) return { kind: 'command', template: override.run };
  if (override?.suite) return { kind: 'image', service: override.suite };
  if (stage?.run) return { kind: 'command', template: stage.run };
  if (stage?.suite) return { kind: 'image', service: stage.suite };
  return null;
}

export function planStages(config: Config, serviceName: string, options: PlanOptions = {}): PlannedStage[] {
  const service = config.services[serviceName];
  if (!service) throw new Error(`unknown service ${serviceName}`);
  const planned = fullPlan(config, serviceName, service).map((stage) =>
    stage.kind === 'preview' && !stage.skipReason && !options.pullRequest ? { ...stage, skipReason: NOT_A_PULL_REQUEST } : stage,
  );
  if (options.untrusted) {
    return planned.map((stage) => (!stage.skipReason && stage.kind !== 'checkout' && stage.kind !== 'command' ? { ...stage, skipReason: UNTRUSTED_SKIP } : stage));
  }
  if (!options.partial) return planned;
  // Integration and preview stages run before a merge: that is when they matter most.
  const build = planned.findIndex((stage) => stage.kind === 'build');
  return planned.map((stage, index) =>
    !stage.skipReason && stage.kind !== 'integration' && stage.kind !== 'preview' && (stage.kind === 'deploy' || (build >= 0 && index > build)) ? { ...stage, skipReason: options.partial! } : stage,
  );
}

function fullPlan(config: Config, serviceName: string, service: Service): PlannedStage[] {
  const checkout: PlannedStage = {
    name: 'checkout',
    kind: 'checkout',
    command: null,
    environment: null,
    timeoutMs: CHECKOUT_TIMEOUT_MS,
    skipReason: null,
  };
  return [
    checkout,
    ...config.pipeline.map((stage): PlannedStage => {
      const override = service.stages[stage.name];
      const timeoutMs = override?.timeout ?? stage.timeoutMs;
      const base = { name: stage.name, kind: stage.kind, environment: stage.environment, timeoutMs };
      if (override?.skip) return { ...base, command: null, skipReason: `service ${serviceName} skips this stage` };
      if (service.test_suite && (stage.kind === 'deploy' || stage.kind === 'integration' || stage.kind === 'preview')) return { ...base, command: null, skipReason: TEST_SUITE_SKIP(serviceName) };
      const schedule = stage.kind === 'deploy' ? config.environments[stage.environment!]?.promote_schedule : undefined;
      if (schedule) {
        // Such an environment takes the release that finished its soak when its schedule fires.
        return { ...base, command: null, skipReason: `${stage.environment} takes releases on its promotion schedule (${schedule.cron}, ${schedule.timezone}) or by slipway promote` };
      }
      if (stage.kind === 'integration') return planIntegration(config, serviceName, service, base);
      if (stage.kind === 'preview' && service.port === undefined) return { ...base, command: null, skipReason: `service ${serviceName} has no port: there is nothing to preview` };
      if (stage.kind !== 'command') return { ...base, command: null, skipReason: null };
      const template = override?.run ?? stage.run ?? '';
      const rendered = renderCommand(template, serviceName, service);
      if (!rendered.ok) {
        return { ...base, command: null, skipReason: `service ${serviceName} sets no ${rendered.missing.replace(/^service\./, '')}` };
      }
      return { ...base, command: rendered.text, skipReason: null };
    }),
  ];
}

/** An integration stage runs a command (kept rendered, as a command stage's) or a test-suite service's image. */
function planIntegration(config: Config, serviceName: string, service: Service, base: Omit<PlannedStage, 'command' | 'skipReason'>): PlannedStage {
  const suite = integrationSuite(config, serviceName, base.name);
  if (suite === null) return { ...base, command: null, skipReason: `service ${serviceName} sets no integration suite` };
  if (suite.kind === 'image') return { ...base, command: null, skipReason: null };
  const rendered = renderCommand(suite.template, serviceName, service);
  if (!rendered.ok) return { ...base, command: null, skipReason: `service ${serviceName} sets no ${rendered.missing.replace(/^service\./, '')}` };
  return { ...base, command: rendered.text, skipReason: null };
}
