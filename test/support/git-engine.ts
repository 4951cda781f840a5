// The Engine as the server wires it, on real git repositories (a GitSource caching under the
// test's folder) and an in-memory bus: what tests of the real steps (containers or local
// processes) start, with only the parts that differ given.

import { join } from 'node:path';
import { Engine, type EngineOptions } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { GitSource } from '../../src/source/git/source.ts';

export type GitEngineParts = Pick<EngineOptions, 'store' | 'config' | 'executor'> & Partial<Pick<EngineOptions, 'builder' | 'deployer' | 'workRoot'>>;

/** Started; workspaces in `<root>/workspaces` unless `workRoot` says otherwise; no builder or deployer unless given. */
export async function startGitEngine(root: string, parts: GitEngineParts): Promise<Engine> {
  const engine = new Engine({
    bus: new MemoryEventBus(),
    source: new GitSource(join(root, 'git')),
    builder: null,
    deployer: null,
    workRoot: join(root, 'workspaces'),
    ...parts,
  });
  await engine.start();
  return engine;
}
