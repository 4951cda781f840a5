// `slipway status|deployments`: what runs and what serves where, at a glance (releases: delivery.ts).

import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { RunSummary, ServiceOverview } from '../client/api.ts';
import { ago, bold, dim, fromNow, runState, shortSha, statusSymbol, statusWord, table, yellow } from './format.ts';
import { print, printJson } from './output.ts';

export function registerStatusCommands(program: Command, client: () => SlipwayClient): void {
  program
    .command('status')
    .description('each service with its last run, the runs waiting in its lanes, and what is deployed where')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const api = client();
      const [services, pending, previews] = await Promise.all([api.services(), options.json ? [] : api.runs({ status: ['pending'], limit: 1000 }), options.json ? [] : api.previews()]);
      if (options.json) return printJson(services);
      if (services.length === 0) return print('No services are configured.');
      const waiting = waitingByService(pending);
      const environments = services[0]!.environments.map((environment) => environment.environment);
      const showQueued = waiting.size > 0;
      const rows = [['SERVICE', 'LAST RUN', 'STAGES', ...(showQueued ? ['QUEUED'] : []), ...environments.map((name) => name.toUpperCase())].map(bold)];
      for (const service of services) rows.push(statusRow(service, environments, showQueued ? (waiting.get(service.name) ?? dim('—')) : null));
      print(table(rows));
      if (previews.length > 0) {
        print('');
        const previewRows = [['PREVIEW', 'STATUS', 'COMMIT', 'ADDRESS'].map(bold)];
        for (const preview of previews) previewRows.push([`${preview.service} #${preview.pullRequest}`, preview.status, shortSha(preview.commitSha), preview.url ?? dim(preview.reason ?? '-')]);
        print(table(previewRows));
      }
    });

  program
    .command('deployments')
    .description('deployments, newest first')
    .option('--service <name>', 'only this service')
    .option('--env <name>', 'only this environment')
    .option('--json', 'print JSON')
    .action(async (options: { service?: string; env?: string; json?: boolean }) => {
      const deployments = await client().deployments({ service: options.service, environment: options.env });
      if (options.json) return printJson(deployments);
      if (deployments.length === 0) return print('No deployments yet.');
      const rows = [['DEPLOYMENT', 'SERVICE', 'ENVIRONMENT', 'RELEASE', 'STATUS', 'URL', 'WHEN'].map(bold)];
      for (const deployment of deployments) {
        const status = deployment.status === 'succeeded' ? statusWord('succeeded') : deployment.status === 'failed' ? statusWord('failed') : statusWord('running');
        rows.push([`#${deployment.id}`, deployment.service, deployment.environment, `#${deployment.releaseId}`, status, deployment.url ?? dim(deployment.reason ?? ''), ago(deployment.startedAt)]);
      }
      print(table(rows));
    });
}

/** Per service, pending runs counted per lane with the lane's policy: "2 in main (queue)". */
function waitingByService(runs: RunSummary[]): Map<string, string> {
  const lanes = new Map<string, Map<string, { count: number; concurrency: string }>>();
  for (const run of runs) {
    const ofService = lanes.get(run.service) ?? new Map<string, { count: number; concurrency: string }>();
    lanes.set(run.service, ofService);
    const lane = ofService.get(run.lane) ?? { count: 0, concurrency: run.concurrency };
    lane.count += 1;
    ofService.set(run.lane, lane);
  }
  const cells = new Map<string, string>();
  for (const [service, ofService] of lanes) {
    cells.set(service, [...ofService].map(([lane, { count, concurrency }]) => `${count} in ${lane} ${dim(`(${concurrency})`)}`).join(', '));
  }
  return cells;
}

function statusRow(service: ServiceOverview, environments: string[], queued: string | null): string[] {
  const run = service.lastRun;
  const lastRun = run
    ? `#${run.id} ${statusSymbol(run.status)} ${runState(run)} ${shortSha(run.commitSha)} on ${run.lane} ${dim(ago(run.createdAt))}`
    : dim('never run');
  const stages = run ? run.stages.map((stage) => statusSymbol(stage.status)).join('') : '';
  const cells = environments.map((name) => {
    const state = service.environments.find((environment) => environment.environment === name);
    if (!state) return dim('—');
    // The address stays the same across releases, so it shows before the first deploy too.
    const address = state.address ? [state.address.url, state.address.portUrl].filter((url) => url !== null).join(' ') : (state.current?.url ?? '');
    const serving = state.current && state.release ? `release #${state.release.id} ${shortSha(state.release.commitSha)} ${dim(ago(state.current.finishedAt))}` : dim('not deployed');
    const where = address ? dim(address) : null;
    // What holds the next release at this environment's gate: a lock, and each run waiting there.
    const held = [
      ...state.locks.map((lock) => yellow(`locked by ${lock.actor}: ${lock.reason}`)),
      ...state.waiting.map(({ runId, wait }) => yellow(`#${runId} waits: ${wait.kind}${wait.until ? ` (${fromNow(wait.until)})` : ''}`)),
    ];
    return [serving, where, ...held].filter((part) => part !== null).join(' ');
  });
  return [bold(service.name), lastRun, stages, ...(queued === null ? [] : [queued]), ...cells];
}
