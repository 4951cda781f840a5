// The build stage: the service's Dockerfile, from a context that must stay inside the workspace,
// built and pushed by the Builder; the digest becomes a release that says where it came from.

import { join, relative } from 'node:path';
import type { BuildLog, BuiltImage } from '../../builders/builder.ts';
import type { Service } from '../../config/model.ts';
import { err, type Result } from '../../core/types.ts';
import type { EngineResources, StageContext, StageOutcome } from '../resources.ts';
import { outsideWorkspace } from '../workspace.ts';

/** A git tag becomes an image tag only when it is a valid one. */
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export async function build(resources: EngineResources, { run, service, workspace, log, signal }: StageContext): Promise<StageOutcome> {
  const { store, bus } = resources;
  const built = await buildServiceImage(
    resources,
    { name: run.service, service, workspace, tag: run.commitSha, aliases: run.tag !== null && IMAGE_TAG.test(run.tag) ? [run.tag] : [], labels: { 'slipway.run': String(run.id) } },
    (line, stream) => void log.line(stream ?? 'stdout', line),
    signal,
  );
  if (!built.ok) return { status: 'failed', reason: built.error };
  const release = await store.transaction(async (tx) => {
    const created = await tx.releases.create({
      service: run.service,
      commitSha: run.commitSha,
      image: built.value.image,
      digest: built.value.digest,
      tag: run.tag,
      lane: run.lane,
      runId: run.id,
    });
    await tx.events.append({ type: 'release.created', runId: run.id, service: run.service, data: { releaseId: created.id, digest: created.digest } });
    return created;
  });
  bus.publish({ type: 'release', data: release });
  log.system(`Pushed ${built.value.image} as release #${release.id} (${built.value.digest})`);
  return { status: 'succeeded' };
}

export interface ServiceImage {
  name: string;
  service: Service;
  /** The checked-out commit. */
  workspace: string;
  /** The commit: the image's tag and its `slipway.commit` label. */
  tag: string;
  aliases: string[];
  /** Besides the service and the commit. */
  labels: Record<string, string>;
}

/**
 * Builds a service's Dockerfile from a checked-out commit and pushes it to the registry under
 * the commit: a build context or Dockerfile outside the workspace (a symlink out) is refused.
 */
export async function buildServiceImage(
  { builder, config, noEngineReason }: EngineResources,
  { name, service, workspace, tag, aliases, labels }: ServiceImage,
  log: BuildLog,
  signal: AbortSignal,
): Promise<Result<BuiltImage, string>> {
  if (!builder) return err(`cannot build an image: ${noEngineReason}`);
  if (!config.registry) return err('cannot build an image: the configuration names no registry');
  const serviceDir = join(workspace, service.path);
  const contextDir = join(serviceDir, service.context);
  const dockerfile = join(serviceDir, service.dockerfile);
  const escape = (await outsideWorkspace(workspace, contextDir, 'build context')) ?? (await outsideWorkspace(workspace, dockerfile, 'Dockerfile'));
  if (escape) return err(escape);
  return builder.build(
    {
      contextDir,
      dockerfile: relative(contextDir, dockerfile),
      repository: `${config.registry}/${name}`,
      tag,
      aliases,
      labels: { 'slipway.service': name, 'slipway.commit': tag, ...labels },
    },
    log,
    signal,
  );
}
