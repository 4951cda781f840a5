// The `slipway` command. `up` starts the server in this process; every other command talks
// to a running server through the typed client, like the dashboard does.

import { Command, InvalidArgumentError } from 'commander';
import { ApiError, SlipwayClient } from '../client/client.ts';
import type { Deployment, LogLine, RunDetail, ServiceOverview, Stage } from '../client/api.ts';
import { isTerminalRun, isTerminalStage } from '../core/types.ts';
import { DEFAULT_PORT, VERSION } from '../core/version.ts';
import { registerHookCommands } from './hook.ts';
import { ago, bold, cyan, dim, duration, red, shortSha, statusSymbol, statusWord, table, yellow } from './format.ts';

// `slipway logs 3 | head` closes the pipe early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command();
program
  .name('slipway')
  .description('One shared pipeline for every containerized service.')
  .version(VERSION)
  .option('--server <url>', 'Slipway server to talk to', process.env.SLIPWAY_URL ?? `http://127.0.0.1:${DEFAULT_PORT}`)
  .showHelpAfterError();

const client = () => new SlipwayClient(program.opts<{ server: string }>().server);
const print = (text: string): void => void process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));

function positiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a run number such as 12');
  return parsed;
}

function portNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('expected a port number between 0 and 65535');
  return parsed;
}

program
  .command('up')
  .description('start the Slipway server (SQLite, local container engine, demo when no config is given)')
  .option('--config <file>', 'slipway.yml to load (default: ./slipway.yml, else the demo)')
  .option('--data <dir>', 'folder for the database, workspaces and caches', process.env.SLIPWAY_DATA ?? '.slipway')
  .option('--port <n>', 'port to listen on (0 picks a free one)', portNumber, DEFAULT_PORT)
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--process', 'run steps as local processes even when a container engine exists')
  .action(async (options: { config?: string; data: string; port: number; host: string; process?: boolean }) => {
    // Loaded here so the client commands start fast: the server pulls in the engine and drivers.
    const { startServer, StartupError } = await import('../server/main.ts');
    const server = await startServer({
      configFile: options.config,
      dataDir: options.data,
      port: options.port,
      host: options.host,
      processExecutor: options.process,
      say: (message) => print(dim(message)),
    }).catch((error: unknown) => {
      if (error instanceof StartupError) fail(error.message);
      throw error;
    });
    print(`${bold(`Slipway ${VERSION}`)} listening on ${cyan(server.url)}`);
    print(
      table([
        ['  config', server.info.configFile],
        ['  store', server.info.store],
        ['  executor', server.info.executor],
        ['  builder', server.info.builder],
        ['  deployer', server.info.deployer],
      ]),
    );
    for (const notice of server.info.notices) print(yellow(`  ! ${notice}`));
    print(dim(`  try: npx slipway status   (Ctrl-C stops the server; running steps continue and are re-attached on restart)`));
    const shutdown = () => {
      // Runs in flight are left to the next start: their containers keep running and are re-attached.
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });

program
  .command('run <service>')
  .description('start a run of the pipeline for a service')
  .option('--ref <ref>', 'branch, tag or commit (default: the service branch)')
  .option('--wait', 'show each stage as it happens; exit non-zero when the run fails')
  .option('--json', 'print JSON')
  .action(async (service: string, options: { ref?: string; wait?: boolean; json?: boolean }) => {
    const api = client();
    if (!options.wait) {
      const run = await api.startRun({ service, ref: options.ref });
      if (options.json) return printJson(run);
      print(`Run ${bold(`#${run.id}`)} of ${service} at ${shortSha(run.commitSha)} (${run.ref}) queued`);
      print(dim(`  follow it: npx slipway logs ${run.id} -f`));
      return;
    }
    const finished = await startAndWatch(api, service, options.ref, !options.json);
    if (options.json) printJson(finished);
    process.exitCode = finished.status === 'succeeded' ? 0 : 1;
  });

/** Starts a run and prints its stages as they change until it ends. */
async function startAndWatch(api: SlipwayClient, service: string, ref: string | undefined, human: boolean): Promise<RunDetail> {
  const abort = new AbortController();
  const events = api.events({}, abort.signal)[Symbol.asyncIterator]();
  await events.next(); // the stream is open: nothing from here on is missed
  let run: RunDetail;
  try {
    run = await api.startRun({ service, ref });
  } catch (error) {
    abort.abort();
    throw error;
  }
  if (human) print(`Run ${bold(`#${run.id}`)} of ${service} at ${shortSha(run.commitSha)} (${run.ref})`);
  const shown = new Map<number, string>();
  const show = async (stage: Stage) => {
    if (!human || shown.get(stage.id) === stage.status) return;
    shown.set(stage.id, stage.status);
    if (stage.status === 'running') print(`  ${statusSymbol('running')} ${stage.name} ${dim('running…')}`);
    else if (isTerminalStage(stage.status)) {
      const detail = stage.status === 'succeeded' ? dim(duration(stage.startedAt, stage.finishedAt)) : dim(stage.reason ?? '');
      print(`  ${statusSymbol(stage.status)} ${stage.name} ${detail}`);
      if (stage.status === 'failed') await printLogTail(api, stage);
    }
  };
  const deployments: Deployment[] = [];
  try {
    for (const stage of run.stages) if (stage.status === 'skipped') await show(stage);
    for (let next = await events.next(); !next.done; next = await events.next()) {
      const event = next.value;
      if (event.type === 'stage' && event.data.runId === run.id) await show(event.data);
      if (event.type === 'deployment' && event.data.runId === run.id && event.data.status === 'succeeded') deployments.push(event.data);
      if (event.type === 'run' && event.data.id === run.id && isTerminalRun(event.data.status)) break;
    }
  } finally {
    abort.abort();
  }
  const finished = await api.run(run.id);
  if (human) {
    for (const stage of finished.stages) await show(stage);
    for (const deployment of deployments) print(`  ${cyan('→')} ${deployment.environment}: ${deployment.url}`);
    const took = duration(finished.startedAt ?? finished.createdAt, finished.finishedAt);
    print(`Run #${finished.id} ${statusWord(finished.status)} in ${took}${finished.reason && finished.status !== 'succeeded' ? `: ${finished.reason}` : ''}`);
  }
  return finished;
}

async function printLogTail(api: SlipwayClient, stage: Stage): Promise<void> {
  const lines = (await readAllLogs(api, stage.runId, 0, stage.id)).filter((line) => line.stream !== 'system');
  for (const line of lines.slice(-20)) print(`      ${line.stream === 'stderr' ? red(line.text) : dim(line.text)}`);
}

async function readAllLogs(api: SlipwayClient, runId: number, after = 0, stage?: number): Promise<LogLine[]> {
  const all: LogLine[] = [];
  for (;;) {
    const page = await api.logs(runId, { after, stage, limit: 1000 });
    all.push(...page);
    if (page.length < 1000) return all;
    after = page.at(-1)!.seq;
  }
}

program
  .command('logs <run>')
  .description("print a run's log")
  .option('-f, --follow', 'keep printing new lines until the run ends')
  .option('--json', 'print one JSON object per line')
  .action(async (runArg: string, options: { follow?: boolean; json?: boolean }) => {
    const runId = positiveInt(runArg);
    const api = client();
    const abort = new AbortController();
    const events = options.follow ? api.events({ run: runId }, abort.signal)[Symbol.asyncIterator]() : null;
    if (events) await events.next();
    const run = await api.run(runId);
    const stageNames = new Map(run.stages.map((stage) => [stage.id, stage.name]));
    const width = Math.max(...run.stages.map((stage) => stage.name.length));
    let lastSeq = 0;
    const printLine = (line: LogLine) => {
      if (line.seq <= lastSeq) return;
      lastSeq = line.seq;
      if (options.json) return print(JSON.stringify(line));
      const prefix = dim(`${(stageNames.get(line.stageId) ?? '?').padEnd(width)} │ `);
      const text = line.stream === 'stderr' ? red(line.text) : line.stream === 'system' ? cyan(line.text) : line.text;
      print(prefix + text);
    };
    for (const line of await readAllLogs(api, runId)) printLine(line);
    if (!events || isTerminalRun(run.status)) return abort.abort();
    try {
      for (let next = await events.next(); !next.done; next = await events.next()) {
        const event = next.value;
        if (event.type === 'log') printLine(event.data);
        if (event.type === 'run' && isTerminalRun(event.data.status)) break;
      }
    } finally {
      abort.abort();
    }
    for (const line of await readAllLogs(api, runId, lastSeq)) printLine(line);
  });

program
  .command('status')
  .description('each service with its last run and what is deployed where')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const services = await client().services();
    if (options.json) return printJson(services);
    if (services.length === 0) return print('No services are configured.');
    const environments = services[0]!.environments.map((environment) => environment.environment);
    const rows = [['SERVICE', 'LAST RUN', 'STAGES', ...environments.map((name) => name.toUpperCase())].map(bold)];
    for (const service of services) rows.push(statusRow(service, environments));
    print(table(rows));
  });

function statusRow(service: ServiceOverview, environments: string[]): string[] {
  const run = service.lastRun;
  const lastRun = run ? `#${run.id} ${statusSymbol(run.status)} ${statusWord(run.status)} ${shortSha(run.commitSha)} ${dim(ago(run.createdAt))}` : dim('never run');
  const stages = run ? run.stages.map((stage) => statusSymbol(stage.status)).join('') : '';
  const cells = environments.map((name) => {
    const state = service.environments.find((environment) => environment.environment === name);
    if (!state?.current || !state.release) return dim('—');
    return `release #${state.release.id} ${shortSha(state.release.commitSha)} ${state.current.url ?? ''} ${dim(ago(state.current.finishedAt))}`;
  });
  return [bold(service.name), lastRun, stages, ...cells];
}

program
  .command('runs')
  .description('recent runs')
  .option('--service <name>', 'only this service')
  .option('--limit <n>', 'how many', (value) => positiveInt(value), 20)
  .option('--json', 'print JSON')
  .action(async (options: { service?: string; limit: number; json?: boolean }) => {
    const runs = await client().runs({ service: options.service, limit: options.limit });
    if (options.json) return printJson(runs);
    if (runs.length === 0) return print('No runs yet.');
    const rows = [['RUN', 'SERVICE', 'STATUS', 'COMMIT', 'REF', 'TRIGGER', 'STARTED', 'TOOK'].map(bold)];
    for (const run of runs) {
      rows.push([`#${run.id}`, run.service, `${statusSymbol(run.status)} ${statusWord(run.status)}`, shortSha(run.commitSha), run.ref, run.trigger.kind, ago(run.createdAt), duration(run.startedAt, run.finishedAt)]);
    }
    print(table(rows));
  });

program
  .command('show <run>')
  .description('one run and its stages')
  .option('--json', 'print JSON')
  .action(async (runArg: string, options: { json?: boolean }) => {
    const run = await client().run(positiveInt(runArg));
    if (options.json) return printJson(run);
    print(`Run ${bold(`#${run.id}`)} of ${run.service} at ${shortSha(run.commitSha)} (${run.ref}): ${statusWord(run.status)}${run.reason ? ` — ${run.reason}` : ''}`);
    const rows = run.stages.map((stage) => [
      `  ${statusSymbol(stage.status)}`,
      stage.name,
      statusWord(stage.status),
      duration(stage.startedAt, stage.finishedAt),
      dim(stage.reason ?? stage.command ?? stage.environment ?? ''),
    ]);
    print(table(rows));
  });

program
  .command('cancel <run>')
  .description('cancel a pending or running run')
  .option('--json', 'print JSON')
  .action(async (runArg: string, options: { json?: boolean }) => {
    const run = await client().cancelRun(positiveInt(runArg));
    if (options.json) return printJson(run);
    print(`Run #${run.id} ${statusWord(run.status)}`);
  });

program
  .command('releases')
  .description('built images, newest first')
  .option('--service <name>', 'only this service')
  .option('--json', 'print JSON')
  .action(async (options: { service?: string; json?: boolean }) => {
    const releases = await client().releases({ service: options.service });
    if (options.json) return printJson(releases);
    if (releases.length === 0) return print('No releases yet.');
    const rows = [['RELEASE', 'SERVICE', 'COMMIT', 'DIGEST', 'RUN', 'BUILT'].map(bold)];
    for (const release of releases) rows.push([`#${release.id}`, release.service, shortSha(release.commitSha), release.digest.slice(0, 19), `#${release.runId}`, ago(release.createdAt)]);
    print(table(rows));
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

registerHookCommands(program, client);

function fail(message: string): never {
  process.stderr.write(`${red('slipway:')} ${message}\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ApiError) fail(error.message);
  throw error;
}
