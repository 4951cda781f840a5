// `slipway deliveries|webhook|schedules`: what forges sent and what it led to, where webhook
// secrets are set (never the secrets), and the cron schedules.

import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { ForgeName, WebhookSecretSource, WebhookStatus } from '../client/api.ts';
import { assertNever } from '../core/types.ts';
import { FORGE_NAMES } from '../forges/forge.ts';
import { ago, bold, clockTime, deliveryStatusWord, dim, fromNow, red, table } from './format.ts';
import { fail, positiveInt, print, printJson } from './output.ts';
import { readSecret } from './prompt.ts';

export function registerWebhookCommands(program: Command, client: () => SlipwayClient): void {
  program
    .command('deliveries')
    .description('recent webhook deliveries, newest first: what arrived and what it led to')
    .option('--limit <n>', 'how many', (value) => positiveInt(value, 'a positive number'), 20)
    .option('--json', 'print JSON')
    .action(async (options: { limit: number; json?: boolean }) => {
      const deliveries = await client().deliveries({ limit: options.limit });
      if (options.json) return printJson(deliveries);
      if (deliveries.length === 0) return print(`No webhook deliveries yet. ${dim('(slipway webhook status says where forges send them)')}`);
      const rows = [['DELIVERY', 'FORGE', 'EVENT', 'REPOSITORY', 'STATUS', 'RECEIVED', 'OUTCOME'].map(bold)];
      for (const delivery of deliveries) {
        rows.push([
          `#${delivery.id}`,
          delivery.forge,
          delivery.event,
          delivery.repository,
          deliveryStatusWord(delivery.status),
          ago(delivery.receivedAt),
          delivery.outcome ?? dim('—'),
        ]);
      }
      print(table(rows));
    });

  const webhook = program.command('webhook').description('webhooks from forges: where to send them, their secrets, what was refused');

  webhook
    .command('status')
    .description('the URL to give each forge, where webhook secrets are set (never the secrets), and refused deliveries')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const status = await client().webhooks();
      if (options.json) return printJson(status);
      print(bold('Webhook URL') + dim(' (content type application/json)'));
      print(table(HOSTED_FORGES.map((forge) => [`  ${forge}`, hookUrl(status, forge)])));
      print(dim(`  plain git repositories: slipway hook install <bare-repo>`));
      print('');
      print(bold('Secrets') + dim(' (where each is set; the values are never shown)'));
      if (status.secrets.length === 0) {
        print(`  none: every delivery is refused until one is set ${dim('(slipway webhook secret set <forge> <repository>)')}`);
      } else {
        const rows = [['  FORGE', 'REPOSITORY', 'SET IN'].map(bold)];
        for (const secret of status.secrets) rows.push([`  ${secret.forge}`, secret.repository === '*' ? dim('* (every repository)') : secret.repository, secretSource(secret)]);
        print(table(rows));
      }
      print('');
      print(bold('Refused deliveries') + dim(' (since the server started)'));
      const rejections = Object.entries(status.rejections).sort(([a], [b]) => a.localeCompare(b));
      if (rejections.length === 0) print(`  none`);
      else {
        const rows = [['  FORGE', 'REASON', 'COUNT'].map(bold)];
        for (const [key, count] of rejections) {
          const space = key.indexOf(' ');
          const [forge, reason] = space < 0 ? [key, ''] : [key.slice(0, space), key.slice(space + 1)];
          rows.push([`  ${forge}`, reason.replaceAll('_', ' '), red(String(count))]);
        }
        print(table(rows));
      }
    });

  const secret = webhook.command('secret').description('webhook secrets set through the API (sealed on the server)');

  secret
    .command('set <forge> <repository>')
    .description('set the secret a forge signs deliveries about a repository with; reads it from stdin')
    .option('--generate', 'make up a random secret and print it, once, to paste into the forge')
    .addHelpText('after', '\nExamples:\n  printf %s "$SECRET" | slipway webhook secret set github acme/payment\n  slipway webhook secret set gitea acme/payment --generate')
    .action(async (forgeArg: string, repository: string, options: { generate?: boolean }) => {
      const forge = forgeName(forgeArg);
      const value = options.generate
        ? randomBytes(32).toString('hex')
        : (await readSecret('Secret (not shown as you type): ', 'secret', 'pipe one in (printf %s "$SECRET" | slipway webhook secret set …) or use --generate')).trim();
      if (value.length < MIN_SECRET_LENGTH) fail(`the secret is too short: expected at least ${MIN_SECRET_LENGTH} characters`);
      const api = client();
      await api.setWebhookSecret({ forge, repository, secret: value });
      const status = await api.webhooks();
      // With --generate the secret is alone on stdout, so it can be captured; the words around it go to stderr.
      const note = (text: string) => void process.stderr.write(`${text}\n`);
      if (options.generate) {
        note(`Set a new ${forge} webhook secret for ${repository}. Copy it into the forge's webhook settings now; it is not shown again:`);
        print(value);
      } else {
        note(`Set the ${forge} webhook secret for ${repository}.`);
      }
      if (forge !== 'git') note(dim(`  the forge's webhook URL: ${hookUrl(status, forge)}`));
    });

  secret
    .command('rm <forge> <repository>')
    .description('remove a webhook secret set through the API (those in slipway.yml stay)')
    .action(async (forgeArg: string, repository: string) => {
      const forge = forgeName(forgeArg);
      const api = client();
      await api.removeWebhookSecret({ forge, repository });
      print(`Removed the ${forge} webhook secret for ${repository}.`);
      const { secrets } = await api.webhooks();
      const fallback = secrets.find((entry) => entry.forge === forge && entry.source !== 'api' && (entry.repository === '*' || entry.repository.toLowerCase() === repository.toLowerCase()));
      if (fallback) print(dim(`  ${fallback.repository === '*' ? 'the forge-wide secret in slipway.yml' : 'its secret in slipway.yml'} applies to it now`));
      else print(dim(`  deliveries about it are refused until a secret is set again`));
    });

  program
    .command('schedules')
    .description('cron schedules: when each runs next and last ran')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const schedules = await client().schedules();
      if (options.json) return printJson(schedules);
      if (schedules.length === 0) return print(`No schedules are configured. ${dim('(add them under "schedules:" in slipway.yml)')}`);
      const rows = [['SCHEDULE', 'CRON', 'TIME ZONE', 'SERVICES', 'NEXT', 'LAST'].map(bold)];
      for (const schedule of schedules) {
        rows.push([
          schedule.name,
          schedule.cron,
          schedule.timezone,
          schedule.services.join(', '),
          tick(schedule.nextAt, schedule.timezone, 'never again', fromNow),
          tick(schedule.lastAt, schedule.timezone, 'not yet', ago),
        ]);
      }
      print(table(rows));
    });
}

/** The forges that are told a URL; a plain repository's hook learns it from `slipway hook install`. */
const HOSTED_FORGES = FORGE_NAMES.filter((forge) => forge !== 'git');

function hookUrl(status: WebhookStatus, forge: ForgeName): string {
  return status.url.replace('<forge>', forge);
}

function secretSource(secret: WebhookSecretSource): string {
  switch (secret.source) {
    case 'api':
      return 'the API (slipway webhook secret set)';
    case 'config':
      return 'slipway.yml';
    case 'config (forge-wide)':
      return 'slipway.yml, for the whole forge';
    default:
      return assertNever(secret.source, 'secret source');
  }
}

function forgeName(value: string): ForgeName {
  const forge = FORGE_NAMES.find((name) => name === value.toLowerCase());
  if (!forge) fail(`unknown forge ${value}; expected one of ${FORGE_NAMES.join(', ')}`);
  return forge;
}

/** The server's minimum, checked here too so the message speaks of the secret, not of a request body. */
const MIN_SECRET_LENGTH = 8;

/** "in 5h (2025-03-11 03:00)", the clock time as it reads in the schedule's own time zone. */
function tick(at: string | null, timezone: string, none: string, relative: (at: string) => string): string {
  return at ? `${relative(at)} ${dim(`(${clockTime(at, timezone)})`)}` : dim(none);
}
