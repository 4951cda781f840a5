// Slipway wired as `slipway up` wires it (createTriggers: receiver, inbox, trigger service; the
// real Engine; SQLite), on the fake executor, builder, deployer and source, which record what
// each step, build and deploy was given. For the security tests, which post what an attacker
// would and look at what ran.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import type { Config } from '../../src/config/model.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { FakeExecutor } from '../../src/executors/fake/executor.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTriggers, type Triggers } from '../../src/triggers/triggers.ts';
import { parsedConfig } from './config.ts';

export interface Wired {
  config: Config;
  store: Store;
  engine: Engine;
  triggers: Triggers;
  source: FakeSource;
  executor: FakeExecutor;
  builder: FakeBuilder;
  deployer: FakeDeployer;
  /** Cancels what still runs, stops everything and removes the data folder. */
  close(): Promise<void>;
}

/**
 * `containers`: the fake executor stands for a container engine (steps run in the service's
 * toolchain image), as untrusted code requires.
 */
export async function wired(configText: string, options: { containers?: boolean } = {}): Promise<Wired> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-wired-'));
  const config = parsedConfig(configText);
  const store = await openSqliteStore(join(dir, 'slipway.db'));
  const bus = new MemoryEventBus();
  const source = new FakeSource();
  const executor = new FakeExecutor(() => ({}));
  if (options.containers) Object.defineProperty(executor, 'usesImages', { value: true });
  const builder = new FakeBuilder();
  const deployer = new FakeDeployer();
  const engine = new Engine({ store, bus, config, source, executor, builder, deployer, workRoot: join(dir, 'work') });
  const triggers = await createTriggers({ config, store, bus, engine, source, secretBox: SecretBox.open(join(dir, 'secret.key')) });
  await engine.start();
  await triggers.start();
  return {
    config,
    store,
    engine,
    triggers,
    source,
    executor,
    builder,
    deployer,
    async close() {
      await triggers.stop();
      for (const run of await store.runs.list({ statuses: ['pending', 'running'] })) await engine.cancel(run.id);
      await engine.stop();
      await triggers.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
