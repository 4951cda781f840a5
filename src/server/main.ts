// `slipway up`: wires the parts (config, store, container engine, registry, executor,
// builder, deployer, engine, HTTP API) and serves. The embedded default is one machine with
// no setup: SQLite in the data folder, the local container engine, a local registry, and the
// demo when no configuration is given.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, type RequestListener, type Server } from 'node:http';
import { AccessService, FIRST_ADMIN } from '../auth/access.ts';
import { credentialsPath, saveCredential, savedCredential } from '../auth/credentials.ts';
import type { ServerInfo } from '../client/api.ts';
import { EngineApiBuilder } from '../builders/engine-api/builder.ts';
import { formatConfigErrors, loadConfigFile } from '../config/load.ts';
import { describeError } from '../core/errors.ts';
import { prepareDemo, prepareDemoImages } from '../demo/demo.ts';
import { findContainerEngine } from '../docker/connect.ts';
import { ensureLocalRegistry } from '../docker/registry.ts';
import { Engine } from '../engine/engine.ts';
import { MemoryEventBus } from '../events/bus.ts';
import { ContainerExecutor } from '../executors/container/executor.ts';
import { ContainerSandbox } from '../sandboxes/container/sandbox.ts';
import type { Executor } from '../executors/executor.ts';
import { ProcessExecutor } from '../executors/process/executor.ts';
import { promotionSchedules } from '../deployments/schedules.ts';
import { Deployments } from '../deployments/service.ts';
import { SecretBox } from '../secrets/box.ts';
import { EnvironmentSecrets, SecretKeeper } from '../secrets/environment.ts';
import { GitSource } from '../source/git/source.ts';
import { notificationSender } from '../notifications/channels.ts';
import { NotificationDispatcher } from '../notifications/dispatcher.ts';
import { Outbox } from '../notifications/outbox.ts';
import { createTriggers, statusSender } from '../triggers/triggers.ts';
import { openSqliteStore } from '../store/sqlite/store.ts';
import { startRuntime, type RuntimeOptions } from './runtime.ts';
import { DEFAULT_PORT, VERSION } from '../core/version.ts';
import { createListener } from './app.ts';
import { lockDataFolder } from './lock.ts';


export interface ServerOptions {
  /** slipway.yml; when omitted, ./slipway.yml if present, else the demo. */
  configFile?: string;
  dataDir: string;
  port?: number;
  host?: string;
  /** Use local processes even when a container engine exists. */
  processExecutor?: boolean;
  /** Runs of different lanes that may run at once. */
  maxParallelRuns?: number;
  /** Largest webhook body accepted, in bytes. */
  maxWebhookBytes?: number;
  /** The clock gates read (soaks, windows, expiries); tests move it. */
  now?: () => Date;
  /** How often waits that end by themselves are looked at. */
  wakeEveryMs?: number;
  /**
   * Where the first start saves the CLI's token for this server: the user's credentials file
   * by default; null saves it nowhere but the data folder (tests, benchmarks).
   */
  credentialsFile?: string | null;
  /** Overrides the configuration's proxy settings; `owned` stops the proxy on close (tests). */
  proxy?: RuntimeOptions['proxy'];
  say?: (message: string) => void;
}

export interface RunningServer {
  url: string;
  info: ServerInfo;
  engine: Engine;
  close(): Promise<void>;
}

export class StartupError extends Error {}

/** The token `slipway up` made for the CLI on this machine, kept beside the database. */
export const LOCAL_TOKEN_FILE = 'cli-token';
/** The first admin's password, made at the first start for the dashboard's sign-in. */
export const FIRST_ADMIN_PASSWORD_FILE = 'admin-password';

/** Names containers and labels so two Slipway servers on one engine never touch each other's. */
export function ownerOf(dataDir: string): string {
  return createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 8);
}

/** Holds the data folder's lock (lock.ts) while it runs: a second server on one folder refuses to start. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  mkdirSync(resolve(options.dataDir), { recursive: true });
  const locked = await lockDataFolder(resolve(options.dataDir), options.dataDir);
  if (!locked.ok) throw new StartupError(locked.message);
  try {
    const running = await startLocked(options);
    return { ...running, close: () => running.close().finally(() => locked.lock.release()) };
  } catch (error) {
    locked.lock.release();
    throw error;
  }
}

async function startLocked(options: ServerOptions): Promise<RunningServer> {
  const say = options.say ?? ((message: string) => console.log(message));
  // startServer made it, to lock it.
  const dataDir = resolve(options.dataDir);
  const notices: string[] = [];

  const demo = options.configFile || existsSync('slipway.yml') ? null : prepareDemo(dataDir);
  const configFile = resolve(options.configFile ?? demo?.configFile ?? 'slipway.yml');
  const loaded = await loadConfigFile(configFile);
  if (!loaded.ok) throw new StartupError(`the configuration has errors; nothing was started:\n${formatConfigErrors(loaded.errors)}`);
  const config = loaded.config;

  const owner = ownerOf(dataDir);
  const lookup = options.processExecutor ? ({ ok: false, reason: 'process executor requested' } as const) : await findContainerEngine();
  let executor: Executor;
  let builder: EngineApiBuilder | null = null;
  if (lookup.ok) {
    executor = new ContainerExecutor(lookup.engine, owner);
    builder = new EngineApiBuilder(lookup.engine);
    if (demo) {
      // Later starts only check that the images are still there.
      if (demo.created) say('Building the demo base images (first start only)...');
      await prepareDemoImages(lookup.engine.docker);
    }
  } else {
    executor = new ProcessExecutor();
    notices.push(`No container engine: ${lookup.reason}. Steps run as local processes; nothing is built or deployed.`);
  }

  if (config.registry && lookup.ok) {
    const registry = await ensureLocalRegistry(config.registry, dataDir);
    switch (registry.state) {
      case 'started':
        notices.push(`Started a local registry at ${config.registry} (pid ${registry.pid}).`);
        break;
      case 'unavailable':
        notices.push(`Registry: ${registry.reason}. Build stages will fail until it answers.`);
        break;
      case 'answering':
      case 'remote':
        break;
    }
  }

  const store = await openSqliteStore(join(dataDir, 'slipway.db'));
  const sandbox = lookup.ok ? new ContainerSandbox(lookup.engine, owner) : null;
  const runtime = lookup.ok && sandbox ? await startRuntime({ config, engine: lookup.engine, owner, dataDir, store, sandbox, proxy: options.proxy, now: options.now ?? (() => new Date()), log: say }) : null;
  notices.push(...(runtime?.notices ?? []));
  const deployer = runtime?.deployer ?? null;
  const bus = new MemoryEventBus();
  const source = new GitSource(join(dataDir, 'git'));
  const keeper = new SecretKeeper(SecretBox.open(join(dataDir, 'secret.key')));
  const secrets = new EnvironmentSecrets(config, store, keeper, options.now);
  const resealed = await secrets.finishInterruptedRotation();
  if (resealed > 0) say(`Re-sealed ${resealed} secrets under ${keeper.box.describe()} after a key change.`);
  const previews = runtime?.previews ?? null;
  const engine = new Engine({
    secrets,
    store,
    bus,
    config,
    source,
    executor,
    builder,
    deployer,
    sandbox,
    previews,
    targets: runtime?.targets,
    noEngineReason: lookup.ok ? (runtime?.reason ?? undefined) : lookup.reason,
    workRoot: join(dataDir, 'workspaces'),
    maxParallelRuns: options.maxParallelRuns,
    now: options.now,
    wakeEveryMs: options.wakeEveryMs,
    log: (message) => say(message),
  });

  // Notifications and commit statuses leave through one durable outbox: retried, never lost in a restart.
  const outbox = new Outbox({
    store,
    senders: { notification: notificationSender(config.notifications.channels), commit_status: statusSender(config) },
    log: say,
  });
  const triggers = await createTriggers({ config, store, bus, engine, source, secretBox: keeper, outbox, previews, log: say });
  const deployments = new Deployments(engine, store, config, options.now);
  const promotions = promotionSchedules(config, deployments, store.cursors, { now: options.now, log: say });
  let publicUrl = config.server.url?.replace(/\/+$/, '') ?? '';
  const notifications = new NotificationDispatcher({ bus, store, outbox, config, publicUrl: () => publicUrl, log: say });
  const info: ServerInfo = {
    version: VERSION,
    executor: executor.description,
    builder: builder ? builder.description : 'none (no container engine)',
    deployer: deployer ? deployer.description : `none (${runtime?.reason ?? 'no container engine'})`,
    store: store.description,
    configFile,
    notices,
  };
  const access = new AccessService(store, { log: say });
  const listener = createListener({
    engine,
    store,
    bus,
    access,
    deployments,
    secrets,
    info,
    webhooks: { receiver: triggers.receiver, secrets: triggers.secrets, maxBytes: options.maxWebhookBytes },
    schedules: triggers.schedules,
    previews,
    publicUrl: () => publicUrl,
    log: say,
  });

  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_PORT;
  const server = await listen(listener, host, port);
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  publicUrl ||= url;
  await signInLocalCli(access, dataDir, url, options.credentialsFile === undefined ? credentialsPath() : options.credentialsFile, say);

  notifications.start();
  triggers.open(publicUrl);
  outbox.start();
  await engine.start();
  await previews?.start();
  await triggers.start();
  await promotions.start();

  if (demo?.created) {
    for (const service of demo.services) {
      const started = await engine.startRun({ service, trigger: { kind: 'manual', by: 'demo' } });
      if (!started.ok) say(`demo: ${started.error.message}`);
    }
  }

  return {
    url,
    info,
    engine,
    async close() {
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      promotions.stop();
      await triggers.stop();
      await engine.stop();
      previews?.stop();
      await triggers.close();
      await notifications.stop();
      await outbox.stop();
      await store.close();
      await runtime?.close();
    },
  };
}

/**
 * The first start makes the first admin and a token for the CLI on this machine, kept in the
 * data folder and in the CLI's credentials under this server's URL (readable by their owner
 * only). Later starts add that token for the URL again when it is missing there (a new port).
 */
async function signInLocalCli(access: AccessService, dataDir: string, url: string, credentials: string | null, say: (message: string) => void): Promise<void> {
  const tokenFile = join(dataDir, LOCAL_TOKEN_FILE);
  const password = randomBytes(12).toString('base64url');
  const issued = await access.bootstrap(`slipway up on ${hostname()}`, password);
  if (issued) {
    writeFileSync(tokenFile, `${issued.value}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    const passwordFile = join(dataDir, FIRST_ADMIN_PASSWORD_FILE);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    chmodSync(passwordFile, 0o600);
    if (credentials !== null) saveCredential(url, { token: issued.value, user: issued.user.name }, credentials);
    say(`Created the first user, ${issued.user.name} (admin); the CLI on this machine is signed in (${credentials ?? tokenFile}).`);
    say(`Dashboard: ${url} — sign in as ${issued.user.name} with the password ${password} (also in ${passwordFile}; change it with: npx slipway user password ${issued.user.name}).`);
    return;
  }
  if (credentials === null || !existsSync(tokenFile)) return;
  try {
    if (savedCredential(url, credentials) === null) saveCredential(url, { token: readFileSync(tokenFile, 'utf8').trim(), user: FIRST_ADMIN }, credentials);
  } catch (error) {
    say(`could not save the CLI's token for ${url}: ${describeError(error)}`);
  }
}

function listen(listener: RequestListener, hostname: string, port: number): Promise<Server> {
  return new Promise((resolveListen, reject) => {
    const server = createServer(listener);
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new StartupError(
          error.code === 'EADDRINUSE' ? `port ${port} on ${hostname} is already in use (is another Slipway running? try --port)` : describeError(error),
        ),
      );
    });
    server.listen(port, hostname, () => resolveListen(server));
  });
}
