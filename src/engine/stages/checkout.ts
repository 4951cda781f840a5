// The checkout stage: the run's commit into a fresh workspace of its own, and who wrote it, its title and date.

import { rm } from 'node:fs/promises';
import { redactUrls } from '../../core/redact.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';

export async function checkout({ source, store }: EngineResources, { run, service, workspace, log }: StageContext): Promise<StageOutcome> {
  await rm(workspace, { recursive: true, force: true });
  log.system(`Checking out ${run.commitSha.slice(0, 12)} (${run.ref}) from ${redactUrls(service.repo)}`);
  const result = await source.checkout(service.repo, run.commitSha, workspace);
  if (!result.ok) return { status: 'failed', reason: result.error.message };
  log.system(`Checked out ${run.commitSha}`);
  // Approvals refuse the commit's author, the fleet shows its title and age, lead times start
  // at its date: they are read once, here, where the commit is at hand.
  if (run.commitAuthor === null || run.commitTitle === null || run.committedAt === null) {
    const commit = await source.commit(service.repo, run.commitSha);
    if (commit.ok) {
      const { author, title, committedAt } = commit.value;
      await store.runs.update(run.id, { commitAuthor: author, commitTitle: title, committedAt });
    }
  }
  return { status: 'succeeded' };
}
