// `slipway promote|rollback|releases|approval|approve|reject|lock|unlock|locks`: moving releases
// between environments, the people who let them through a gate, and the locks that hold them.

import { type Command, InvalidArgumentError } from 'commander';
import type { SlipwayClient } from '../client/client.ts';
import type { Release } from '../client/api.ts';
import type { ApprovalState, DeliveryStarted, EnvironmentLock } from '../client/delivery-api.ts';
import { ROLES } from '../core/types.ts';
import { ago, bold, clockTime, cyan, dim, red, shortSha, table, yellow } from './format.ts';
import { decisionHint, gateRows } from './gate.ts';
import { positiveInt, print, printJson } from './output.ts';
import { watchRun } from './runs.ts';

interface FollowOptions {
  wait?: boolean;
  json?: boolean;
}

const WAIT_HELP = 'follow the run until it ends or waits at a gate; exit non-zero when it fails, is rejected or expires';
const releaseNumber = (value: string) => positiveInt(value.replace(/^#/, ''), 'a release number such as 12');

export function registerDeliveryCommands(program: Command, client: () => SlipwayClient): void {
  program
    .command('promote <service> <release> <environment>')
    .description("deploy a release built before to an environment, through that environment's gate")
    .option('--force', 'past the chain order, soak and windows (admin, needs -m)')
    .option('-m, --message <reason>', 'why (required with --force)')
    .option('--wait', WAIT_HELP)
    .option('--json', 'print JSON')
    .action(async (service: string, releaseArg: string, environment: string, options: FollowOptions & { force?: boolean; message?: string }) => {
      const release = releaseNumber(releaseArg);
      if (options.force && !options.message?.trim()) throw new InvalidArgumentError('--force needs a reason: -m "<why>"');
      const started = (api: SlipwayClient) => api.promote(service, { release, environment, force: options.force, reason: options.message });
      await deliver(client(), started, options, (run) => `Promoting ${service} release #${release} to ${environment}${run.forced ? yellow(' (forced)') : ''}: run ${bold(`#${run.id}`)}`);
    });

  program
    .command('rollback <service> <environment>')
    .description('deploy the release that served before (or --to one) to an environment again')
    .option('--to <release>', 'the release to go back to (default: the one before the current one)', releaseNumber)
    .option('-m, --message <reason>', 'why')
    .option('--wait', WAIT_HELP)
    .option('--json', 'print JSON')
    .action(async (service: string, environment: string, options: FollowOptions & { to?: number; message?: string }) => {
      const started = (api: SlipwayClient) => api.rollback(service, { environment, to: options.to, reason: options.message });
      await deliver(client(), started, options, (run) => `Rolling back ${service} in ${environment} from release #${run.from} to #${run.to}: run ${bold(`#${run.id}`)}`);
    });

  program
    .command('releases [service]')
    .description("a service's releases, newest first, with where each serves now and served before (every service's without one)")
    .option('--limit <n>', 'how many', (value) => positiveInt(value, 'a positive number'), 20)
    .option('--json', 'print JSON')
    .action(async (service: string | undefined, options: { limit: number; json?: boolean }) => {
      if (service === undefined) return printAllReleases(client(), options);
      const placements = await client().serviceReleases(service, { limit: options.limit });
      if (options.json) return printJson(placements);
      if (placements.length === 0) return print(`${service} has no releases yet; a run that builds an image makes one.`);
      const rows = [['RELEASE', 'COMMIT', 'FROM', 'DIGEST', 'BUILT', 'WHERE'].map(bold)];
      for (const { release, serving, servedBefore } of placements) {
        const where = [
          serving.length > 0 ? cyan(`serving: ${serving.join(', ')}`) : '',
          servedBefore.length > 0 ? dim(`served before: ${servedBefore.map((entry) => `${entry.environment} (until ${ago(entry.until)})`).join(', ')}`) : '',
        ];
        rows.push([`#${release.id}`, shortSha(release.commitSha), origin(release), shortDigest(release.digest), ago(release.createdAt), where.filter(Boolean).join('; ')]);
      }
      print(table(rows));
    });

  program
    .command('approval <run>')
    .description('what a run waits for at its gate: who may approve, the decisions given, until when it waits')
    .option('--json', 'print JSON')
    .action(async (runArg: string, options: { json?: boolean }) => {
      const state = await client().approval(positiveInt(runArg));
      if (options.json) return printJson(state);
      printApproval(state);
    });

  program
    .command('approve <run>')
    .description('approve the release a run waits with at a gate')
    .option('-m, --message <comment>', 'a comment, kept in the audit log')
    .option('--json', 'print JSON')
    .action(async (runArg: string, options: { message?: string; json?: boolean }) => {
      const state = await client().approve(positiveInt(runArg), { comment: options.message });
      if (options.json) return printJson(state);
      print(`Approved run #${state.runId}: ${subject(state)}.`);
      print(`  ${outcome(state)}`);
    });

  program
    .command('reject <run>')
    .description('reject the release a run waits with at a gate; the run ends as rejected')
    .requiredOption('-m, --message <reason>', 'why (required; kept in the audit log)')
    .option('--json', 'print JSON')
    .action(async (runArg: string, options: { message: string; json?: boolean }) => {
      const state = await client().reject(positiveInt(runArg), { comment: options.message });
      if (options.json) return printJson(state);
      print(`Rejected run #${state.runId}: ${subject(state)}.`);
      print(`  ${outcome(state)}`);
    });

  program
    .command('lock <environment>')
    .description('stop promotions into an environment (or one service in it) until unlocked; rollbacks still go through')
    .option('--service <name>', 'only this service')
    .requiredOption('-m, --message <reason>', 'why (required; shown to whoever waits)')
    .option('--json', 'print JSON')
    .action(async (environment: string, options: { service?: string; message: string; json?: boolean }) => {
      const lock = await client().lock({ environment, service: options.service, reason: options.message });
      if (options.json) return printJson(lock);
      print(`Locked ${scope(lock)}: ${lock.reason}`);
      print(dim(`  promotions into it wait until: slipway unlock ${environment}${lock.service ? ` --service ${lock.service}` : ''}`));
    });

  program
    .command('unlock <environment>')
    .description('lift a lock; runs waiting for it go on')
    .option('--service <name>', "lift this service's own lock")
    .option('--json', 'print JSON')
    .action(async (environment: string, options: { service?: string; json?: boolean }) => {
      const lock = await client().unlock(environment, options.service);
      if (options.json) return printJson(lock);
      print(`Unlocked ${scope(lock)} ${dim(`(locked by ${lock.actor} ${ago(lock.at)}: ${lock.reason})`)}`);
    });

  program
    .command('locks')
    .description('environments locked against promotions, by whom and why')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const locks = await client().locks();
      if (options.json) return printJson(locks);
      if (locks.length === 0) return print('No locks.');
      const rows = [['ENVIRONMENT', 'SERVICE', 'BY', 'SINCE', 'REASON'].map(bold)];
      for (const lock of locks) rows.push([lock.environment, lock.service ?? dim('every service'), lock.actor, `${ago(lock.at)} ${dim(`(${clockTime(lock.at)})`)}`, lock.reason]);
      print(table(rows));
    });
}

async function printAllReleases(api: SlipwayClient, options: { limit: number; json?: boolean }): Promise<void> {
  const releases = await api.releases({ limit: options.limit });
  if (options.json) return printJson(releases);
  if (releases.length === 0) return print('No releases yet.');
  const rows = [['RELEASE', 'SERVICE', 'COMMIT', 'FROM', 'DIGEST', 'RUN', 'BUILT'].map(bold)];
  for (const release of releases) rows.push([`#${release.id}`, release.service, shortSha(release.commitSha), origin(release), shortDigest(release.digest), `#${release.runId}`, ago(release.createdAt)]);
  print(table(rows));
}

/** The tag or lane a release came from; a pull request's build is marked, as it is never deployed. */
function origin(release: Release): string {
  if (release.origin === 'pull_request') return yellow(`${release.lane} (not deployable)`);
  return release.tag ? `tag ${release.tag}` : release.lane;
}

const shortDigest = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

const scope = (lock: EnvironmentLock) => (lock.service === null ? `${lock.environment} for every service` : `${lock.service} in ${lock.environment}`);

/** "payment release #12 (3f2a1b4c) to production". */
function subject(state: ApprovalState): string {
  const release = state.release ? ` release #${state.release.id} ${dim(`(${shortSha(state.release.commitSha)})`)}` : '';
  return `${state.service}${release} to ${state.environment}`;
}

/** "role deployer or above", "alice or bob", "role admin, carol or dave". */
function who(rule: ApprovalState['rules'][number]): string {
  const lowest = ROLES.find((role) => rule.roles.includes(role));
  const roles = lowest === undefined ? [] : [lowest === ROLES.at(-1) ? `role ${lowest}` : `role ${lowest} or above`];
  const parts = [...roles, ...rule.users];
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1)}`;
}

/** "approved by dora (1 of 2 from role deployer or above); still missing 1 from role deployer or above". */
function tally(state: ApprovalState): { text: string; missing: boolean } {
  const approvers = [...new Set(state.rules.flatMap((rule) => rule.approvedBy))];
  const counts = state.rules.map((rule) => `${rule.approvedBy.length} of ${rule.count} from ${who(rule)}`).join('; ');
  const head = approvers.length > 0 ? `approved by ${approvers.join(', ')} (${counts})` : `no approvals yet (${counts})`;
  const missing = state.rules.filter((rule) => rule.missing > 0);
  if (missing.length === 0) return { text: head, missing: false };
  return { text: `${head}; still missing ${missing.map((rule) => `${rule.missing} from ${who(rule)}`).join(' and ')}`, missing: true };
}

/** After a decision: "approved by dora (1 of 1 from role deployer or above); the run goes on", or what is still missing. */
function outcome(state: ApprovalState): string {
  const rejection = state.decisions.find((decision) => decision.decision === 'reject');
  if (rejection) return `${red('rejected')} by ${rejection.user}${rejection.comment ? `: ${rejection.comment}` : ''}; the run ends`;
  if (!state.needsApproval) return `${state.environment} asks no approval of this run`;
  const { text, missing } = tally(state);
  if (!missing) return `${text}; the run goes on`;
  const approvers = new Set(state.rules.flatMap((rule) => rule.approvedBy));
  const others = state.eligible.filter((name) => !approvers.has(name));
  return `${text}${others.length > 0 ? ` (may approve: ${others.join(', ')})` : ''}`;
}

function printApproval(state: ApprovalState): void {
  print(`Run #${state.runId}: ${subject(state)}`);
  const rows = state.wait ? gateRows(state) : [['  waiting', dim('no: the run is not at a gate')]];
  if (state.needsApproval) rows.push(['  approvals', tally(state).text]);
  else rows.push(['  approvals', dim(`${state.environment} asks none of this run`)]);
  for (const decision of state.decisions) {
    const word = decision.decision === 'approve' ? 'approved' : red('rejected');
    rows.push(['  decision', `${decision.user} ${word} ${ago(decision.at)}${decision.comment ? `: ${decision.comment}` : ''}`]);
  }
  print(table(rows));
  if (state.wait?.kind !== 'approval') return;
  if (state.you.mayApprove) print(decisionHint(state.runId));
  else if (state.you.reason) print(dim(`  you: ${state.you.reason}`));
}

/** Starts a promotion or rollback and says so, or with --wait follows it until it ends or waits at a gate. */
async function deliver(api: SlipwayClient, start: (api: SlipwayClient) => Promise<DeliveryStarted>, options: FollowOptions, headline: (run: DeliveryStarted) => string): Promise<void> {
  if (!options.wait) {
    const run = await start(api);
    if (options.json) return printJson(run);
    print(headline(run));
    print(dim(`  where it stands: slipway show ${run.id}; its gate: slipway approval ${run.id}`));
    return;
  }
  const run = await watchRun(api, () => start(api), !options.json, headline);
  if (options.json) printJson(run);
  process.exitCode = run.status === 'succeeded' || run.status === 'waiting' ? 0 : 1;
}
