// What every command shares: printing for a person or as JSON, failing with one line, and
// reading a number argument.

import { InvalidArgumentError } from 'commander';
import { red } from './format.ts';

export const print = (text: string): void => void process.stdout.write(`${text}\n`);
export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

/** One line on stderr, exit code 1. */
export function fail(message: string): never {
  process.stderr.write(`${red('slipway:')} ${message}\n`);
  process.exit(1);
}

export function positiveInt(value: string, what = 'a run number such as 12'): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`expected ${what}, got "${value}"`);
  return parsed;
}
