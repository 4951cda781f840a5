// What the triggers need from slipway.yml: the schedules to arm, the repositories to poll, and
// where each run's commit status goes. Pure reads of the config.

import type { Config } from '../config/model.ts';
import type { Run } from '../core/types.ts';
import type { ForgeName, StatusReporter, StatusReporterSettings } from '../forges/forge.ts';
import type { StatusTarget } from './commit-status.ts';
import type { PolledRepository } from './polling.ts';
import { apiUrlOf, forgeOf } from './repositories.ts';
import type { ScheduleSpec } from './schedules.ts';

/** Pipeline-wide schedules as they are, then each service's own, named "<service>/<name>". */
export function scheduleSpecs(config: Config): ScheduleSpec[] {
  const services = Object.keys(config.services);
  return [
    ...config.schedules.map((schedule) => ({
      name: schedule.name,
      cron: schedule.cron,
      timezone: schedule.timezone,
      services: schedule.services ?? services,
      ref: schedule.ref ?? null,
      variables: schedule.variables,
    })),
    ...Object.entries(config.services).flatMap(([service, settings]) =>
      settings.schedules.map((schedule) => ({
        name: `${service}/${schedule.name}`,
        cron: schedule.cron,
        timezone: schedule.timezone,
        services: [service],
        ref: schedule.ref ?? null,
        variables: schedule.variables,
      })),
    ),
  ];
}

/** One entry per polled repository: the shortest interval any of its services asks for. */
export function polledRepositories(config: Config): PolledRepository[] {
  const byRepo = new Map<string, PolledRepository>();
  for (const service of Object.values(config.services)) {
    if (service.poll === undefined) continue;
    const entry = byRepo.get(service.repo) ?? { repo: service.repo, intervalMs: service.poll, branches: [] };
    entry.intervalMs = Math.min(entry.intervalMs, service.poll);
    if (!entry.branches.includes(service.branch)) entry.branches.push(service.branch);
    byRepo.set(service.repo, entry);
  }
  return [...byRepo.values()];
}

type ReporterFactory = (forge: Exclude<ForgeName, 'git'>, settings: StatusReporterSettings) => StatusReporter | null;

/**
 * Where a run's commit status goes: the forge whose host serves the service's repository,
 * when that forge has a token. Reporters are made once per forge.
 */
export function statusTargets(config: Config, createReporter: ReporterFactory): (run: Run) => StatusTarget | null {
  const reporters = new Map<string, StatusReporter | null>();
  return (run) => {
    const service = config.services[run.service];
    const located = service ? forgeOf(config, service.repo) : null;
    if (!located || !located.settings.token) return null;
    if (!reporters.has(located.forge)) {
      const apiUrl = apiUrlOf(located.forge, located.settings);
      reporters.set(located.forge, apiUrl ? createReporter(located.forge, { apiUrl, token: located.settings.token }) : null);
    }
    const reporter = reporters.get(located.forge);
    return reporter ? { reporter, repository: located.fullName } : null;
  };
}
