// `slipway run|rerun|resume|logs|runs|show|cancel`: starting runs and following them, a stage
// at a time or a log line at a time, through the API's live event stream.

import type { Command } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { Deployment, LogLine, Run, RunDetail, Stage } from '../client/api.ts';
import { isTerminalRun, isTerminalStage, type RunStatus } from '../core/types.ts';
import { refusedVariable } from '../core/variables.ts';
import { ago, bold, clockTime, cyan, dim, duration, fromNow, red, runState, shortSha, statusSymbol, statusWord, table, triggerText, yellow } from './format.ts';
import { printGate } from './gate.ts';
import { fail, positiveInt, print, printJson } from './output.ts';

export function registerRunCommands(program: Command, client: () => SlipwayClient): void {
  program
    .command('run <service>')
    .description('start a run of the pipeline for a service')
    .option('--ref <ref>', 'branch, tag or commit (default: the service branch)')
    .option('--var <KEY=VALUE>', 'a variable for every step of the run (repeatable)', collect, [] as string[])
    .option('--wait', WAIT_HELP)
    .option('--json', 'print JSON')
    .action(async (service: string, options: LaunchOptions & { ref?: string; var: string[] }) => {
      const variables = options.var.length > 0 ? parseVariables(options.var) : undefined;
      await launch(client(), (api) => api.startRun({ service, ref: options.ref, variables }), options);
    });

  program
    .command('rerun <run>')
    .description('run a finished run again from the start: same commit, lane and variables')
    .option('--wait', WAIT_HELP)
    .option('--json', 'print JSON')
    .action(async (runArg: string, options: LaunchOptions) => {
      const runId = positiveInt(runArg);
      await launch(client(), (api) => api.rerun(runId), options);
    });

  program
    .command('resume <run>')
    .description('run a failed or cancelled run again from the stage where it stopped, reusing the stages that passed')
    .option('--wait', WAIT_HELP)
    .option('--json', 'print JSON')
    .action(async (runArg: string, options: LaunchOptions) => {
      const runId = positiveInt(runArg);
      await launch(client(), (api) => api.resume(runId), options);
    });

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
      if (run.preview) facts.push(['  preview', `${run.preview.url ?? run.preview.status} ${dim(`(${run.preview.environment}, at ${shortSha(run.preview.commitSha)})`)}`]);
      print(table(facts));
      const rows = run.stages.map((stage) => [
        `  ${statusSymbol(stage.status)}`,
        stage.name,
        statusWord(stage.status),
        duration(stage.startedAt, stage.finishedAt),
        stage.wait ? yellow(`${stage.wait.detail}${stage.wait.until ? ` (${fromNow(stage.wait.until)})` : ''}`) : dim(stage.reason ?? stage.command ?? stage.environment ?? ''),
      ]);
      print(table(rows));
      if (run.status === 'waiting') print(dim(`  its gate: slipway approval ${run.id}`));
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
}

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

/** Starts a run (by run, rerun or resume) and either says so or, with --wait, follows it to its end. */
async function launch(api: SlipwayClient, start: (api: SlipwayClient) => Promise<RunDetail>, options: LaunchOptions): Promise<void> {
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
  // A run that waits at a gate did all it could for now: not a failure.
  process.exitCode = finished.status === 'succeeded' || finished.status === 'waiting' ? 0 : 1;
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
 * Starts a run through `start` and prints its stages as they change until it ends or waits at
 * a gate (then what for and until when). The event stream opens before the run is started, so
 * no stage change is missed. `headline` replaces the usual first line.
 */
export async function watchRun<R extends RunDetail>(api: SlipwayClient, start: () => Promise<R>, human: boolean, headline?: (run: R) => string): Promise<RunDetail> {
  const abort = new AbortController();
  const events = api.events({}, abort.signal)[Symbol.asyncIterator]();
  await events.next(); // the stream is open: nothing from here on is missed
  let run: R;
  try {
    run = await start();
  } catch (error) {
    abort.abort();
    throw error;
  }
  if (human) {
    print(headline ? headline(run) : runTitle(run));
    printRunContext(run, { resumeSummary: false });
    // Place 1 is usually about to start; further back, say why nothing happens yet.
    if (run.status === 'pending' && (run.queuePosition ?? 0) > 1) print(`  ${statusSymbol('pending')} ${runState(run)}`);
  }
  const settled = (status: RunStatus) => status === 'waiting' || isTerminalRun(status);
  const shown = new Map<number, string>();
  const show = async (stage: Stage) => {
    if (!human || shown.get(stage.id) === stage.status || stage.status === 'waiting') return;
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
      if (event.type === 'run' && event.data.id === run.id && settled(event.data.status)) break;
      if (event.type === 'reset') {
        // Events were lost while the stream reconnected: the stored run says where it stands.
        const current = await api.run(run.id);
        for (const stage of current.stages) if (stage.status !== 'pending') await show(stage);
        if (settled(current.status)) break;
      }
    }
  } finally {
    abort.abort();
  }
  const finished = await api.run(run.id);
  if (human) {
    for (const stage of finished.stages) await show(stage);
    for (const deployment of deployments) print(`  ${cyan('→')} ${deployment.environment}: ${deployment.url}`);
    if (finished.status === 'waiting') {
      await printGate(api, finished.id);
      return finished;
    }
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
