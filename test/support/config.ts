// slipway.yml text for tests, parsed; a text that does not parse fails the test with why.

import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/model.ts';

export function parsedConfig(text: string, file = 'slipway.yml'): Config {
  const parsed = parseConfig(text, file);
  if (!parsed.ok) throw new Error(`${file} does not parse: ${JSON.stringify(parsed.errors)}`);
  return parsed.config;
}
