// The checkout stage: the run's commit into a fresh workspace of its own, and who wrote it.

import { rm } from 'node:fs/promises';
import { redactUrls } from '../../core/redact.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';

export async function checkout({ source, store }: EngineResources, { run, service, workspace, log }: StageContext): Promise<StageOutcome> {
  await rm(workspace, { recursive: true, force: true });
  log.system(`Checking out ${run.commitSha.slice(0, 12)} (${run.ref}) from ${redactUrls(service.repo)}`);
  const result = await source.checkout(service.repo, run.commitSha, workspace);
  if (!result.ok) return { status: 'failed', reason: result.error.message };
  log.system(`Checked out ${run.commitSha}`);
  // Approvals refuse the commit's author: it is read once, here, where the commit is at hand.
  if (run.commitAuthor === null) {
    const author = await source.commitAuthor(service.repo, run.commitSha);
    if (author.ok) await store.runs.update(run.id, { commitAuthor: author.value });
  }
  return { status: 'succeeded' };
}
