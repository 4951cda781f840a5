// A scriptable Builder for engine tests: no engine, no registry. By default every build
// succeeds with a digest derived from repository:tag, so the same request gets the same digest.

import { createHash } from 'node:crypto';
import { err, ok, type Result } from '../../core/types.ts';
import type { BuildLog, BuildRequest, Builder, BuiltImage } from '../builder.ts';

export type FakeBuildScript = (
  request: BuildRequest,
  log: BuildLog,
  signal: AbortSignal,
) => Result<BuiltImage, string> | Promise<Result<BuiltImage, string>>;

export const succeedingBuild: FakeBuildScript = (request, log) => {
  const image = `${request.repository}:${request.tag}`;
  const digest = `sha256:${createHash('sha256').update(image).digest('hex')}`;
  log(`built and pushed ${image} (fake)`);
  return ok({ image, digest });
};

export class FakeBuilder implements Builder {
  readonly description = 'fake builder';
  /** Every request, in call order. */
  readonly calls: BuildRequest[] = [];

  constructor(private script: FakeBuildScript = succeedingBuild) {}

  /** Replaces the script for the builds that follow. */
  respondWith(script: FakeBuildScript): void {
    this.script = script;
  }

  async build(request: BuildRequest, log: BuildLog, signal: AbortSignal): Promise<Result<BuiltImage, string>> {
    this.calls.push(request);
    if (signal.aborted) return err('build cancelled');
    try {
      const result = await this.script(request, log, signal);
      return signal.aborted ? err('build cancelled') : result;
    } catch (error) {
      // The contract says build() never throws, even when a test's script does.
      return err(`build failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
