// A command stage: one step through the Executor, with the mounts, environment and limits the
// engine computes (never anything a step wrote), its output into the stage's log with
// backpressure, and, after a restart, the same step found again by its stored handle.

import { resourcesFor, type Service } from '../../config/model.ts';
import { describeError } from '../../core/errors.ts';
import { shellQuote } from '../../core/shell.ts';
import type { Run } from '../../core/types.ts';
import { failureReason } from '../../executors/executor.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';

export async function command(resources: EngineResources, context: StageContext): Promise<StageOutcome> {
  const { executor, store, config, source } = resources;
  const { run, stage, service, workspace, log, resuming } = context;
  let handle: string | null;
  let skip = { stdout: 0, stderr: 0 };
  if (resuming) {
    handle = stage.handle ? await executor.reattach(stage.handle) : null;
    if (!handle) {
      return { status: 'failed', reason: 'the server stopped while this stage ran, and its step could not be found again' };
    }
    skip = { stdout: await store.logs.count(stage.id, 'stdout'), stderr: await store.logs.count(stage.id, 'stderr') };
    log.system('Re-attached to the running step after a server restart');
  } else {
    if (run.untrusted && !executor.usesImages) {
      return { status: 'failed', reason: `untrusted code runs only in containers, and this server runs steps as local processes (${executor.description})` };
    }
    if (executor.usesImages && !service.toolchain) {
      return { status: 'failed', reason: `service ${run.service} sets no toolchain image to run "${stage.command}" in` };
    }
    log.system(`$ ${stage.command}`);
    const command = service.path === '.' ? stage.command! : `cd ${shellQuote(service.path)} && ${stage.command!}`;
    handle = await executor.start({
      runId: run.id,
      stageId: stage.id,
      name: stage.name,
      command,
      image: service.toolchain ?? null,
      workspace,
      // From the source's own cache path: never from the workspace, which earlier steps wrote.
      mounts: source.borrowedPaths(service.repo),
      limits: resourcesFor(config, run.service, stage.name),
      env: stepEnv(run, service, environmentVariables(resources, context)),
    });
    if (executor.canReattach) await store.stages.update(stage.id, { handle });
  }
  return followStep(resources, context, handle, skip);
}

/**
 * Streams a started step's output into the stage's log (with backpressure: each line is stored
 * before the next is read), stops it when the stage's signal fires, and frees it once it ended.
 */
export async function followStep(resources: EngineResources, context: StageContext, stepHandle: string, skip = { stdout: 0, stderr: 0 }): Promise<StageOutcome> {
  const { executor, config, log: serverLog } = resources;
  const { log, signal } = context;
  const stop = () => void executor.stop(stepHandle).catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop();
  try {
    // Awaiting each line holds the executor back while the store is behind (backpressure).
    const output = (async () => {
      for await (const line of executor.logs(stepHandle, { skip, lineLimit: config.logs.line })) await log.line(line.stream, line.text);
    })();
    // Its failure is awaited below, after wait(); meanwhile it must not count as unhandled.
    output.catch(() => undefined);
    const exit = await executor.wait(stepHandle);
    await output;
    const { exitCode } = exit;
    return exitCode === 0 ? { status: 'succeeded', exitCode } : { status: 'failed', reason: failureReason(exit), exitCode };
  } finally {
    signal.removeEventListener('abort', stop);
    await executor.cleanup(stepHandle).catch((error) => serverLog(`cleanup of ${stepHandle}: ${describeError(error)}`));
  }
}

/** A stage with an environment (a migration, a smoke test) gets that environment's variables and secrets. */
function environmentVariables({ config }: EngineResources, { stage, environmentSecrets }: StageContext): Record<string, string> {
  if (stage.environment === null) return {};
  return { ...config.environments[stage.environment]?.variables, ...environmentSecrets };
}

/** A run's variables come after the service's, so a run may change them, but never reveal a secret to untrusted code. */
export function stepEnv(run: Run, service: Service, environment: Record<string, string>): Record<string, string> {
  return {
    ...service.variables,
    ...(run.untrusted ? {} : service.secrets),
    ...environment,
    ...run.variables,
    CI: 'true',
    SLIPWAY: 'true',
    SLIPWAY_RUN_ID: String(run.id),
    SLIPWAY_SERVICE: run.service,
    SLIPWAY_COMMIT_SHA: run.commitSha,
    SLIPWAY_REF: run.ref,
  };
}
