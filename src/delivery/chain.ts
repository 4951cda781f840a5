// The chain of environments a service's releases travel: the pipeline's deploy stages in order,
// less those the service skips. A release enters an environment only after it served healthy
// in the one before it in this chain.

import type { Config } from '../config/model.ts';

/** The environments the service deploys to, in pipeline order, with the deploy stage of each. */
export function chainFor(config: Config, serviceName: string): Array<{ environment: string; stage: string }> {
  const service = config.services[serviceName];
  if (!service) return [];
  return config.pipeline
    .filter((stage) => stage.kind === 'deploy' && stage.environment !== null && !service.stages[stage.name]?.skip)
    .map((stage) => ({ environment: stage.environment!, stage: stage.name }));
}

/** The environment before this one in the service's chain; null for the first, undefined when the service does not deploy there. */
export function previousEnvironment(config: Config, serviceName: string, environment: string): string | null | undefined {
  const chain = chainFor(config, serviceName);
  const index = chain.findIndex((link) => link.environment === environment);
  if (index < 0) return undefined;
  return index === 0 ? null : chain[index - 1]!.environment;
}
