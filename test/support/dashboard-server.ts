// A Slipway server for the dashboard's browser tests: the real HTTP API and event stream over a
// real SQLite store, serving the built dashboard (dist/dashboard), its steps real processes on
// this host; the source, builder and deployer are the fakes, so releases are built and deployed
// in moments without a container engine (their real adapters have end-to-end tests of their own).

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '../../src/auth/access.ts';
import { FakeBuilder } from '../../src/builders/fake/builder.ts';
import { SlipwayClient } from '../../src/client/client.ts';
import { FakeDeployer } from '../../src/deployers/fake/deployer.ts';
import { Deployments } from '../../src/deployments/service.ts';
import { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import { ProcessExecutor } from '../../src/executors/process/executor.ts';
import { SecretBox } from '../../src/secrets/box.ts';
import { EnvironmentSecrets, SecretKeeper } from '../../src/secrets/environment.ts';
import { createListener } from '../../src/server/app.ts';
import { FakeSource } from '../../src/source/fake/source.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTriggers, type Triggers } from '../../src/triggers/triggers.ts';
import { parsedConfig } from './config.ts';

export interface DashboardServer {
  url: string;
  admin: SlipwayClient;
  store: Store;
  source: FakeSource;
  /** A user's client, made with a password so they can sign in to the dashboard too. */
  addUser(name: string, role: 'viewer' | 'developer' | 'deployer' | 'admin'): Promise<{ client: SlipwayClient; password: string }>;
  adminPassword: string;
  close(): Promise<void>;
}

export async function startDashboardServer(configText: string, options: { maxParallelRuns?: number } = {}): Promise<DashboardServer> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-dashboard-'));
  const config = parsedConfig(configText);
  const store = await openSqliteStore(join(root, 'slipway.db'));
  const bus = new MemoryEventBus();
  const source = new FakeSource();
  const engine = new Engine({
    store,
    bus,
    config,
    source,
    executor: new ProcessExecutor(),
    builder: new FakeBuilder(),
    deployer: new FakeDeployer(),
    workRoot: join(root, 'work'),
    maxParallelRuns: options.maxParallelRuns,
  });
  const keeper = new SecretKeeper(SecretBox.open(join(root, 'secret.key')));
  const triggers: Triggers = await createTriggers({ config, store, bus, engine, source, secretBox: keeper });
  await engine.start();
  await triggers.start();
  const access = new AccessService(store);
  const adminPassword = 'admin-password-for-tests';
  const adminToken = (await access.bootstrap('test', adminPassword))!.value;
  let url = '';
  const listener = createListener({
    engine,
    store,
    bus,
    access,
    deployments: new Deployments(engine, store, config),
    secrets: new EnvironmentSecrets(config, store, keeper),
    info: { version: 'test', executor: 'process', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: triggers.receiver, secrets: triggers.secrets },
    schedules: triggers.schedules,
    publicUrl: () => url,
  });
  const http: Server = createServer(listener);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const admin = new SlipwayClient(url, adminToken);
  return {
    url,
    admin,
    store,
    source,
    adminPassword,
    async addUser(name, role) {
      const password = `${name}-password-for-tests`;
      await admin.addUser({ name, role, password });
      const token = (await new SlipwayClient(url).login({ user: name, password })).token;
      return { client: new SlipwayClient(url, token), password };
    },
    async close() {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await triggers.stop();
      await engine.stop();
      await triggers.close();
      await store.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
