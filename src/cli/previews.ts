// `slipway previews [--all] [--service <name>]` and `slipway previews remove <id>`: pull
// requests' preview environments, where each answers, what runs in it and when it goes.

import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { Preview, PreviewStatus } from '../core/previews.ts';
import { assertNever } from '../core/types.ts';
import { ago, bold, cyan, dim, fromNow, green, red, shortSha, table, yellow } from './format.ts';
import { positiveInt, print, printJson } from './output.ts';

export function registerPreviewCommands(program: Command, client: () => SlipwayClient): void {
  const previews = program
    .command('previews')
    .description("pull requests' preview environments: where each answers, at which commit, and when it goes")
    .option('--all', 'removed ones too')
    .option('--service <name>', 'only previews of this service')
    .option('--json', 'print JSON')
    .action(async (options: { all?: boolean; service?: string; json?: boolean }) => {
      const list = await client().previews({ all: options.all, service: options.service });
      if (options.json) return printJson(list);
      if (list.length === 0) return print(options.all ? 'No previews yet.' : 'No live previews. A pipeline stage of `type: preview` makes one for each pull request.');
      const rows = [['ID', 'PREVIEW', 'STATUS', 'COMMIT', 'ADDRESS', 'UPDATED', 'GOES'].map(bold)];
      for (const preview of list) {
        rows.push([
          String(preview.id),
          `${preview.service} #${preview.pullRequest}`,
          statusText(preview.status),
          `${shortSha(preview.commitSha)} ${dim(`run #${preview.runId}`)}`,
          preview.url ? cyan(preview.url) : dim('-'),
          ago(preview.updatedAt),
          goes(preview),
        ]);
      }
      print(table(rows));
      for (const preview of list.filter((candidate) => candidate.reason && candidate.status !== 'removed')) print(dim(`  ${preview.environment}: ${preview.reason}`));
    });

  previews
    .command('remove <id>')
    .description('remove a preview now (its next commit makes it again)')
    .option('-m, --message <reason>', 'why')
    .option('--json', 'print JSON')
    .action(async (idArg: string, options: { message?: string; json?: boolean }) => {
      const removed = await client().removePreview(positiveInt(idArg, 'a preview id such as 3'), options.message);
      if (options.json) return printJson(removed);
      print(`Removed the preview ${removed.environment} (${removed.service} #${removed.pullRequest}).`);
    });
}

function statusText(status: PreviewStatus): string {
  switch (status) {
    case 'ready':
      return green(status);
    case 'starting':
    case 'removing':
      return yellow(status);
    case 'failed':
      return red(status);
    case 'removed':
      return dim(status);
    default:
      return assertNever(status, 'preview status');
  }
}

function goes(preview: Preview): string {
  if (preview.status === 'removed') return dim(`removed ${ago(preview.removedAt)}`);
  return `${fromNow(preview.expiresAt)} ${dim('without a new commit')}`;
}
