// The preview stage: a pull request's run starts its release with the rest of the system (every
// deployable service at the release serving in the first environment, or only what it requires,
// as `previews.services` says) and the infrastructure they need, in a preview environment of its
// own behind the proxy (previews/previews.ts); a new commit of the pull request updates it.

import { describeError } from '../../core/errors.ts';
import { previewEnvironment, pullRequestOfLane } from '../../core/previews.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';
import { deployableServices, participantsOf } from './integration-plan.ts';
import { MemberFailure, memberOf, type Member } from './members.ts';

export async function preview(resources: EngineResources, context: StageContext): Promise<StageOutcome> {
  const { previews, store, config, noEngineReason } = resources;
  const { run, stage, log, signal } = context;
  if (!previews) return { status: 'failed', reason: `a preview runs containers behind the proxy, and this server has ${noEngineReason}` };
  const pullRequest = pullRequestOfLane(run.lane);
  if (pullRequest === null) return { status: 'failed', reason: 'only pull requests get a preview' };
  const [release] = await store.releases.list({ runId: run.id, limit: 1 });
  if (!release) return { status: 'failed', reason: "a preview starts this run's image, and no build stage before it made one" };
  const companions = config.previews.services === 'all' ? deployableServices(config) : [];
  const members: Member[] = [];
  try {
    for (const participant of participantsOf(config, run.service, companions)) members.push(await memberOf(resources, context, participant, release));
  } catch (error) {
    if (error instanceof MemberFailure) return { status: 'failed', reason: error.message };
    throw error;
  }
  const readyTimeoutMs = config.pipeline.find((candidate) => candidate.name === stage.name)?.readyTimeoutMs ?? stage.timeoutMs;
  const outcome = await previews
    .deploy({ service: run.service, pullRequest, runId: run.id, stageId: stage.id, commitSha: run.commitSha, release, members, readyTimeoutMs }, (text) => log.system(text), signal)
    .catch((error: unknown) => ({ ok: false as const, reason: `the preview ${previewEnvironment(run.service, pullRequest)} could not be made: ${describeError(error)}` }));
  return outcome.ok ? { status: 'succeeded' } : { status: 'failed', reason: outcome.reason };
}
