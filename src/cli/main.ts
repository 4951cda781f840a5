// The `slipway` command. `up` starts the server in this process; every other command talks
// to a running server through the typed client, like the dashboard does.

import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { ApiError, SlipwayClient } from '../client/client.ts';
import type { Deployment, ForgeName, LogLine, Run, RunDetail, RunSummary, ServiceOverview, Stage, WebhookSecretSource, WebhookStatus } from '../client/api.ts';
import { assertNever, isTerminalRun, isTerminalStage } from '../core/types.ts';
import { refusedVariable } from '../core/variables.ts';
import { FORGE_NAMES } from '../forges/forge.ts';
import { DEFAULT_PORT, VERSION } from '../core/version.ts';
import { registerAccessCommands, savedToken } from './access.ts';
import { registerHookCommands } from './hook.ts';
import { PromptError, readSecret } from './prompt.ts';
import { ago, bold, clockTime, cyan, deliveryStatusWord, dim, duration, fromNow, red, runState, shortSha, statusSymbol, statusWord, table, triggerText, yellow } from './format.ts';

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

const serverUrl = () => program.opts<{ server: string }>().server;
/** SLIPWAY_TOKEN, else the token `slipway login` (or the first `slipway up`) saved for this server. */
const client = () => new SlipwayClient(serverUrl(), process.env.SLIPWAY_TOKEN || savedToken(serverUrl()));
const print = (text: string): void => void process.stdout.write(`${text}\n`);
const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));

function positiveInt(value: string, what = 'a run number such as 12'): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new InvalidArgumentError(`expected ${what}, got "${value}"`);
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

/** Commander calls this once per --var; the pairs are checked in the action, where fail() reports. */
const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** KEY=VALUE pairs (the value may hold "=" or be empty); a later KEY wins, as with `env`. */
function parseVariables(pairs: string[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals < 0) fail(`--var ${pair}: expected KEY=VALUE, e.g. --var LOG_LEVEL=debug`);
    const key = pair.slice(0, equals);
    if (!key) fail(`--var ${pair}: the name is missing (letters, digits and _, not starting with a digit)`);
    const refused = refusedVariable(key);
    if (refused) fail(`--var ${pair}: ${refused}`);
    variables[key] = pair.slice(equals + 1);
  }
  return variables;
}

interface LaunchOptions {
  wait?: boolean;
  json?: boolean;
}

const WAIT_HELP = 'show each stage as it happens; exit non-zero when the run fails';

program
  .command('run <service>')
  .description('start a run of the pipeline for a service')
  .option('--ref <ref>', 'branch, tag or commit (default: the service branch)')
  .option('--var <KEY=VALUE>', 'a variable for every step of the run (repeatable)', collect, [] as string[])
  .option('--wait', WAIT_HELP)
  .option('--json', 'print JSON')
  .action(async (service: string, options: LaunchOptions & { ref?: string; var: string[] }) => {
    const variables = options.var.length > 0 ? parseVariables(options.var) : undefined;
    await launch((api) => api.startRun({ service, ref: options.ref, variables }), options);
  });

program
  .command('rerun <run>')
  .description('run a finished run again from the start: same commit, lane and variables')
  .option('--wait', WAIT_HELP)
  .option('--json', 'print JSON')
  .action(async (runArg: string, options: LaunchOptions) => {
    const runId = positiveInt(runArg);
    await launch((api) => api.rerun(runId), options);
  });

program
  .command('resume <run>')
  .description('run a failed or cancelled run again from the stage where it stopped, reusing the stages that passed')
  .option('--wait', WAIT_HELP)
  .option('--json', 'print JSON')
  .action(async (runArg: string, options: LaunchOptions) => {
    const runId = positiveInt(runArg);
    await launch((api) => api.resume(runId), options);
  });

/** Starts a run (by run, rerun or resume) and either says so or, with --wait, follows it to its end. */
async function launch(start: (api: SlipwayClient) => Promise<RunDetail>, options: LaunchOptions): Promise<void> {
  const api = client();
  if (!options.wait) {
    const run = await start(api);
    if (options.json) return printJson(run);
    print(`${runTitle(run)}: ${runState(run)}`);
    printRunContext(run);
    print(dim(`  follow it: npx slipway logs ${run.id} -f`));
    return;
  }
  const finished = await watchRun(api, () => start(api), !options.json);
  if (options.json) printJson(finished);
  process.exitCode = finished.status === 'succeeded' ? 0 : 1;
}

/** "Run #7 of api at 3f2a1b4c (main)", and what it repeats: ", resume of #4". */
function runTitle(run: Run): string {
  const repeats = run.trigger.kind === 'rerun' || run.trigger.kind === 'resume' ? `, ${triggerText(run)}` : '';
  return `Run ${bold(`#${run.id}`)} of ${run.service} at ${shortSha(run.commitSha)} (${run.ref})${repeats}`;
}

/** What a newly started run carries over: its variables, and for a resumed run the stages it reuses. */
function printRunContext(run: RunDetail, { resumeSummary = true } = {}): void {
  const variables = Object.entries(run.variables);
  if (variables.length > 0) print(dim(`  variables: ${variables.map(([key, value]) => `${key}=${value}`).join(' ')}`));
  if (resumeSummary && run.trigger.kind === 'resume') {
    const reused = run.stages.filter((stage) => stage.status === 'skipped' && stage.reason?.includes(`#${run.originRunId}`));
    const from = run.stages.find((stage, index) => index > 0 && stage.status === 'pending');
    if (from) print(dim(`  resumes at ${from.name}${reused.length ? `; reuses ${reused.map((stage) => stage.name).join(', ')} from #${run.originRunId}` : ''}`));
  }
}

/**
 * Starts a run through `start` and prints its stages as they change until it ends. The event
 * stream opens before the run is started, so no stage change is missed.
 */
async function watchRun(api: SlipwayClient, start: () => Promise<RunDetail>, human: boolean): Promise<RunDetail> {
  const abort = new AbortController();
  const events = api.events({}, abort.signal)[Symbol.asyncIterator]();
  await events.next(); // the stream is open: nothing from here on is missed
  let run: RunDetail;
  try {
    run = await start();
  } catch (error) {
    abort.abort();
    throw error;
  }
  if (human) {
    print(runTitle(run));
    printRunContext(run, { resumeSummary: false });
    // Place 1 is usually about to start; further back, say why nothing happens yet.
    if (run.status === 'pending' && (run.queuePosition ?? 0) > 1) print(`  ${statusSymbol('pending')} ${runState(run)}`);
  }
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
  // Stages skipped from the start (reused by a resume, or not for this run) appear in their
  // place, once the stages before them have had their say.
  const skippedFromStart = run.stages.filter((stage) => stage.status === 'skipped');
  const skippedBefore = async (position: number) => {
    for (const stage of skippedFromStart) if (stage.position < position) await show(stage);
  };
  const deployments: Deployment[] = [];
  try {
    for (let next = await events.next(); !next.done; next = await events.next()) {
      const event = next.value;
      const stageEvent = event.type === 'stage' && event.data.runId === run.id;
      // A stage's 'pending' is its creation; those skipped from the start are placed by skippedBefore.
      if (stageEvent && event.data.status !== 'pending' && !skippedFromStart.some((stage) => stage.id === event.data.id)) {
        await skippedBefore(event.data.position);
        await show(event.data);
      }
      if (event.type === 'deployment' && event.data.runId === run.id && event.data.status === 'succeeded') deployments.push(event.data);
      if (event.type === 'run' && event.data.id === run.id && isTerminalRun(event.data.status)) break;
      if (event.type === 'reset') {
        // Events were lost while the stream reconnected: the stored run says where it stands.
        const current = await api.run(run.id);
        for (const stage of current.stages) if (stage.status !== 'pending') await show(stage);
        if (isTerminalRun(current.status)) break;
      }
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
        if (event.type === 'reset') {
          // Lines were lost while the stream reconnected: the store has them, and the run's state.
          for (const line of await readAllLogs(api, runId, lastSeq)) printLine(line);
          if (isTerminalRun((await api.run(runId)).status)) break;
        }
      }
    } finally {
      abort.abort();
    }
    for (const line of await readAllLogs(api, runId, lastSeq)) printLine(line);
  });

program
  .command('status')
  .description('each service with its last run, the runs waiting in its lanes, and what is deployed where')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    const api = client();
    const [services, pending] = await Promise.all([api.services(), options.json ? [] : api.runs({ status: ['pending'], limit: 1000 })]);
    if (options.json) return printJson(services);
    if (services.length === 0) return print('No services are configured.');
    const waiting = waitingByService(pending);
    const environments = services[0]!.environments.map((environment) => environment.environment);
    const showQueued = waiting.size > 0;
    const rows = [['SERVICE', 'LAST RUN', 'STAGES', ...(showQueued ? ['QUEUED'] : []), ...environments.map((name) => name.toUpperCase())].map(bold)];
    for (const service of services) rows.push(statusRow(service, environments, showQueued ? (waiting.get(service.name) ?? dim('—')) : null));
    print(table(rows));
  });

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
    if (!state?.current || !state.release) return dim('—');
    return `release #${state.release.id} ${shortSha(state.release.commitSha)} ${state.current.url ?? ''} ${dim(ago(state.current.finishedAt))}`;
  });
  return [bold(service.name), lastRun, stages, ...(queued === null ? [] : [queued]), ...cells];
}

program
  .command('runs')
  .description('recent runs, with their lane, what started them, and where queued ones wait')
  .option('--service <name>', 'only this service')
  .option('--limit <n>', 'how many', (value) => positiveInt(value, 'a positive number'), 20)
  .option('--json', 'print JSON')
  .action(async (options: { service?: string; limit: number; json?: boolean }) => {
    const runs = await client().runs({ service: options.service, limit: options.limit });
    if (options.json) return printJson(runs);
    if (runs.length === 0) return print('No runs yet.');
    const rows = [['RUN', 'SERVICE', 'STATUS', 'COMMIT', 'LANE', 'TRIGGER', 'STARTED', 'TOOK'].map(bold)];
    for (const run of runs) {
      rows.push([
        `#${run.id}`,
        run.service,
        `${statusSymbol(run.status)} ${runState(run)}`,
        shortSha(run.commitSha),
        run.lane,
        triggerText(run),
        ago(run.createdAt),
        duration(run.startedAt, run.finishedAt),
      ]);
    }
    print(table(rows));
  });

program
  .command('show <run>')
  .description('one run: what started it, its lane and variables, and its stages')
  .option('--json', 'print JSON')
  .action(async (runArg: string, options: { json?: boolean }) => {
    const run = await client().run(positiveInt(runArg));
    if (options.json) return printJson(run);
    print(`${runTitle(run)}: ${runState(run)}${run.reason ? ` — ${run.reason}` : ''}`);
    const by = run.trigger.kind === 'schedule' ? '' : ` ${dim(`by ${run.trigger.by}`)}`;
    const facts = [
      ['  trigger', `${triggerText(run)}${by}`],
      ['  lane', `${run.lane} ${dim(`(${run.concurrency})`)}${run.partial ? dim(', partial: stops after the build') : ''}`],
      ['  created', `${ago(run.createdAt)} ${dim(`(${clockTime(run.createdAt)})`)}`],
    ];
    const variables = Object.entries(run.variables);
    if (variables.length > 0) facts.push(['  variables', variables.map(([key, value]) => `${key}=${value}`).join(' ')]);
    print(table(facts));
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
    const rows = [['RELEASE', 'SERVICE', 'COMMIT', 'FROM', 'DIGEST', 'RUN', 'BUILT'].map(bold)];
    for (const release of releases) {
      // A pull request's build is listed, but marked: it is never deployed.
      const from = release.origin === 'pull_request' ? yellow(`${release.lane} (not deployable)`) : release.lane;
      rows.push([`#${release.id}`, release.service, shortSha(release.commitSha), from, release.digest.slice(0, 19), `#${release.runId}`, ago(release.createdAt)]);
    }
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

/** The forges that are told a URL; a plain repository's hook learns it from `slipway hook install`. */
const HOSTED_FORGES = FORGE_NAMES.filter((forge) => forge !== 'git');

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

/** "in 5h (2025-03-11 03:00)", the clock time as it reads in the schedule's own time zone. */
function tick(at: string | null, timezone: string, none: string, relative: (at: string) => string): string {
  return at ? `${relative(at)} ${dim(`(${clockTime(at, timezone)})`)}` : dim(none);
}

registerHookCommands(program, client);
registerAccessCommands(program, { client, serverUrl, print, printJson });

function fail(message: string): never {
  process.stderr.write(`${red('slipway:')} ${message}\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // An argument checked inside an action (a run number) is reported like a server's refusal.
  if (error instanceof ApiError && error.status === 401) fail(`${error.message}\n  sign in: slipway login --server ${serverUrl()} (or set SLIPWAY_TOKEN)`);
  if (error instanceof ApiError || error instanceof InvalidArgumentError || error instanceof PromptError) fail(error.message);
  throw error;
}
