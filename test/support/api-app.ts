// The real HTTP API (createApp) over an in-memory store, for routes that read only the store and
// the configuration (the engine, webhooks, deployments and secrets are left out); clients send
// their requests straight into it, with no socket.

import assert from 'node:assert/strict';
import type { Hono } from 'hono';
import { AccessService } from '../../src/auth/access.ts';
import { SlipwayClient, type Transport } from '../../src/client/client.ts';
import type { Config } from '../../src/config/model.ts';
import type { Role } from '../../src/core/types.ts';
import type { Deployments } from '../../src/deployments/service.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { MemoryEventBus } from '../../src/events/bus.ts';
import type { EnvironmentSecrets } from '../../src/secrets/environment.ts';
import { createApp } from '../../src/server/app.ts';
import { openSqliteStore } from '../../src/store/sqlite/store.ts';
import type { Store } from '../../src/store/store.ts';
import type { WebhookSecrets } from '../../src/triggers/secrets.ts';
import type { WebhookReceiver } from '../../src/triggers/webhooks.ts';

export interface StoreApp {
  app: Hono;
  store: Store;
  adminToken: string;
  /** The first admin's client. */
  admin: SlipwayClient;
  /** A client sending `token` (none when left out). */
  clientFor(token?: string): SlipwayClient;
  /** Adds a user with `role` and answers a client with a token of theirs. */
  userClient(name: string, role: Role): Promise<SlipwayClient>;
}

export async function storeApp(config: Config): Promise<StoreApp> {
  const store = await openSqliteStore(':memory:');
  const access = new AccessService(store);
  const adminToken = (await access.bootstrap('test'))!.value;
  const principal = await access.authenticate(`Bearer ${adminToken}`);
  assert.ok(principal.ok);
  const app = createApp({
    engine: { config } as Engine,
    store,
    bus: new MemoryEventBus(),
    access,
    info: { version: 'test', executor: 'fake', builder: 'fake', deployer: 'fake', store: store.description, configFile: 'slipway.yml', notices: [] },
    webhooks: { receiver: {} as WebhookReceiver, secrets: {} as WebhookSecrets },
    deployments: {} as Deployments,
    secrets: {} as EnvironmentSecrets,
    schedules: { describe: () => [] },
    publicUrl: () => 'http://slipway.test',
  });
  const clientFor = (token?: string): SlipwayClient => {
    const transport: Transport = async (url, init) => {
      const response = await app.request(url, init);
      return { status: response.status, text: await response.text() };
    };
    return new SlipwayClient('http://slipway.test', token, transport);
  };
  return {
    app,
    store,
    adminToken,
    admin: clientFor(adminToken),
    clientFor,
    async userClient(name, role) {
      await access.addUser(principal.principal, { name, role });
      return clientFor((await access.createToken(principal.principal, { name: 'test', user: name })).value);
    },
  };
}
