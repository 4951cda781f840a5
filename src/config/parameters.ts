// A service's parameters as people read them: every setting of its slipway.yml entry, after
// defaults, flattened to "name: value" lines; secrets by name only, URLs without credentials.

import { redactUrls } from '../core/redact.ts';
import type { Service } from './model.ts';

export interface ServiceParameters {
  /** "test", "variables.LOG_LEVEL", "stages.deploy-production.skip", in the order slipway.yml's schema has them. */
  parameters: Array<{ name: string; value: string }>;
  /** The names of the service's own secrets (slipway.yml `secrets:`); never their values. */
  secrets: string[];
}

export function serviceParameters(service: Service): ServiceParameters {
  const parameters: Array<{ name: string; value: string }> = [];
  const add = (name: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      if (value.length === 0) return;
      if (value.every((item) => typeof item !== 'object' || item === null)) parameters.push({ name, value: value.map(String).join(', ') });
      else value.forEach((item, index) => add(`${name}[${index}]`, item));
    } else if (typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) add(`${name}.${key}`, inner);
    } else {
      parameters.push({ name, value: redactUrls(String(value)) });
    }
  };
  for (const [key, value] of Object.entries(service)) if (key !== 'secrets') add(key, value);
  return { parameters, secrets: Object.keys(service.secrets).sort() };
}
