// `slipway secrets list|set|delete|rotate-key`: environment secrets, by name only. A value comes
// from a file, a pipe or a hidden prompt, never from an argument, so it stays out of shell
// history and process listings; the server never sends one back.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { SecretEntry } from '../client/delivery-api.ts';
import { ago, bold, dim, table } from './format.ts';
import { fail, print, printJson } from './output.ts';
import { readSecret } from './prompt.ts';

export function registerSecretCommands(program: Command, client: () => SlipwayClient): void {
  const secrets = program.command('secrets').description("environment secrets (admin to change): names and dates only, values are never shown");

  secrets
    .command('list [environment]')
    .description('the secrets set, per environment and service')
    .option('--json', 'print JSON')
    .action(async (environment: string | undefined, options: { json?: boolean }) => {
      const entries = await client().secrets({ environment });
      if (options.json) return printJson(entries);
      if (entries.length === 0) return print(environment ? `No secrets set in ${environment}.` : 'No secrets set.');
      const rows = [['ENVIRONMENT', 'NAME', 'SERVICE', 'UPDATED', 'BY'].map(bold)];
      for (const entry of entries) rows.push([entry.environment, entry.name, entry.service ?? dim('every service'), ago(entry.updatedAt), entry.updatedBy]);
      print(table(rows));
    });

  secrets
    .command('set <environment> <name>')
    .description('set or replace a secret; the value is read from --from-file, a pipe, or typed without echo')
    .option('--service <name>', "this service's own value (default: every service of the environment)")
    .option('--from-file <path>', 'read the value from a file, as it is (a key, a certificate)')
    .addHelpText('after', '\nExamples:\n  slipway secrets set production DATABASE_PASSWORD\n  printf %s "$PASSWORD" | slipway secrets set production DATABASE_PASSWORD --service payment\n  slipway secrets set production TLS_KEY --from-file ./tls.key')
    .action(async (environment: string, name: string, options: { service?: string; fromFile?: string }) => {
      const value = options.fromFile ? readValueFile(options.fromFile) : await readSecret(`Value of ${name} for ${target(environment, options.service)}: `, 'value', `pipe it in: printf %s "$VALUE" | slipway secrets set ${environment} ${name}, or use --from-file`);
      const entry = await client().setSecret(environment, name, { value, service: options.service });
      print(`Set ${bold(entry.name)} for ${target(entry.environment, entry.service)}.`);
      print(dim(`  runs that start from now on get it; see: slipway secrets list ${entry.environment}`));
    });

  secrets
    .command('delete <environment> <name>')
    .description('delete a secret')
    .option('--service <name>', "the service's own value (default: the one for every service)")
    .action(async (environment: string, name: string, options: { service?: string }) => {
      await client().deleteSecret(environment, name, options.service);
      print(`Deleted ${bold(name)} for ${target(environment, options.service ?? null)}.`);
    });

  secrets
    .command('rotate-key')
    .description('seal every secret (environment and webhook secrets) under a new key')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const rotation = await client().rotateSecretKey();
      if (options.json) return printJson(rotation);
      print(`Re-sealed ${rotation.resealed} ${rotation.resealed === 1 ? 'secret' : 'secrets'} under the new key ${bold(rotation.keyId)}.`);
    });
}

const target = (environment: string, service: SecretEntry['service'] | undefined) => (service ? `${service} in ${environment}` : `every service in ${environment}`);

function readValueFile(path: string): string {
  let value: string;
  try {
    value = readFileSync(path, 'utf8');
  } catch (error) {
    fail(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (value.length === 0) fail(`${path} is empty`);
  return value;
}
