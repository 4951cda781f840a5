// The integration stage: this run's image, the services it requires (at the release serving in
// the first environment of the chain, a pinned release, or built from their branch head) and
// the infrastructure they need, started in a sandbox of their own where each answers to its
// name and aliases; then the integration suite, a command in the service's toolchain image or
// a test-suite service's image, on the same network. When the suite fails, the last lines of
// every member go to the stage's log. The sandbox goes when the stage ends, however it ends.

import { DEFAULT_READY_TIMEOUT_MS, resourcesFor } from '../../config/model.ts';
import { describeError } from '../../core/errors.ts';
import { shellQuote } from '../../core/shell.ts';
import { SandboxFailure, sandboxIdOf, type SandboxMember } from '../../sandboxes/sandbox.ts';
import { integrationSuite } from '../plan.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';
import { followStep, stepEnv } from './command.ts';
import { participantsOf } from './integration-plan.ts';
import { imageOfService, MemberFailure, memberOf } from './members.ts';

/** Lines of each member's output shown when the suite fails. */
const LAST_LINES = 30;

export async function integration(resources: EngineResources, context: StageContext): Promise<StageOutcome> {
  const { sandbox, executor, store, config, noEngineReason, log: serverLog } = resources;
  const { run, stage, service, log, signal } = context;
  if (!sandbox || !executor.usesImages) return { status: 'failed', reason: `an integration stage runs containers on a network of their own, and this server has ${sandbox ? `a ${executor.description} executor` : noEngineReason}` };
  const suite = integrationSuite(config, run.service, stage.name);
  if (!suite) return { status: 'failed', reason: `service ${run.service} sets no integration suite` };
  const [tested] = await store.releases.list({ runId: run.id, limit: 1 });
  if (!tested) return { status: 'failed', reason: "the integration stage starts this run's image, and no build stage before it made one" };
  const id = sandboxIdOf(stage.id);
  const readyTimeoutMs = config.pipeline.find((candidate) => candidate.name === stage.name)?.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  try {
    const members: SandboxMember[] = [];
    for (const participant of participantsOf(config, run.service)) members.push(await memberOf(resources, context, participant, tested));
    const suiteImage = suite.kind === 'image' ? (await imageOfService(resources, context, suite.service, null)).reference : null;
    signal.throwIfAborted();
    log.system(`Starting ${members.map((member) => member.name).join(', ')} on a network of their own`);
    let network: string;
    try {
      ({ network } = await sandbox.start({ id, runId: run.id, stageId: stage.id, members, readyTimeoutMs }, (text) => log.system(text), signal));
    } catch (error) {
      if (!(error instanceof SandboxFailure)) throw error;
      await showLastLines(resources, context, id, [members.find((member) => member.name === error.member)!]);
      return { status: 'failed', reason: error.message };
    }
    const url = `http://${run.service}:${service.port ?? 80}`;
    const handle = await executor.start({
      runId: run.id,
      stageId: stage.id,
      name: stage.name,
      command: suiteImage ? null : service.path === '.' ? stage.command! : `cd ${shellQuote(service.path)} && ${stage.command!}`,
      image: suiteImage ?? service.toolchain ?? null,
      workspace: context.workspace,
      mounts: suiteImage ? [] : resources.source.borrowedPaths(service.repo),
      limits: resourcesFor(config, run.service, stage.name),
      env: { ...suiteEnv(resources, suite.kind === 'image' ? suite.service : null), ...stepEnv(run, service, {}), SLIPWAY_URL: url },
      network,
    });
    log.system(suite.kind === 'image' ? `Running the suite ${suite.service} (${suiteImage}) against ${url}` : `$ ${stage.command}`);
    const outcome = await followStep(resources, context, handle);
    if (outcome.status !== 'succeeded' && !signal.aborted) await showLastLines(resources, context, id, members);
    return outcome;
  } catch (error) {
    if (error instanceof MemberFailure) return { status: 'failed', reason: error.message };
    throw error;
  } finally {
    await sandbox.remove(id).then(
      () => log.system('Removed the integration environment'),
      (error: unknown) => serverLog(`could not remove sandbox ${id} of run ${run.id}: ${describeError(error)}`),
    );
  }
}

/** A test-suite service's own variables and secrets; the tested service's come after them. */
function suiteEnv({ config }: EngineResources, suiteService: string | null): Record<string, string> {
  const suite = suiteService === null ? undefined : config.services[suiteService];
  return suite ? { ...suite.variables, ...suite.secrets } : {};
}

/** Each member's last lines into the stage's log, labelled with its name. */
async function showLastLines({ sandbox }: EngineResources, { log }: StageContext, id: string, members: SandboxMember[]): Promise<void> {
  for (const member of members) {
    const lines = await sandbox!.lastLines(id, member.name, LAST_LINES).catch((error: unknown) => [`(its output could not be read: ${describeError(error)})`]);
    log.system(`Last lines of ${member.name}:${lines.length === 0 ? ' (none)' : ''}`);
    for (const line of lines) await log.line('stderr', `${member.name} | ${line}`);
  }
}
