// The checkout stage: the run's commit into a fresh workspace of its own.

import { rm } from 'node:fs/promises';
import { redactUrls } from '../../core/redact.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';

export async function checkout({ source }: EngineResources, { run, service, workspace, log }: StageContext): Promise<StageOutcome> {
  await rm(workspace, { recursive: true, force: true });
  log.system(`Checking out ${run.commitSha.slice(0, 12)} (${run.ref}) from ${redactUrls(service.repo)}`);
  const result = await source.checkout(service.repo, run.commitSha, workspace);
  if (!result.ok) return { status: 'failed', reason: result.error.message };
  log.system(`Checked out ${run.commitSha}`);
  return { status: 'succeeded' };
}
