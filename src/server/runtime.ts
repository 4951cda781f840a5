// Where releases run, as `slipway up` sets it up: the proxy (HAProxy, started or adopted: it
// outlives Slipway's own restarts), each service's stable address in each environment (its port
// kept in the store), the container-host deployer behind the proxy, pull requests' previews
// behind the same proxy, and the deployers of environments whose target is a command.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Config } from '../config/model.ts';
import type { ProxySettings } from '../config/rollout.ts';
import { describeError } from '../core/errors.ts';
import { CommandDeployer } from '../deployers/command/deployer.ts';
import { ContainerHostDeployer, type RouteDeclaration } from '../deployers/container-host/deployer.ts';
import type { Deployer } from '../deployers/deployer.ts';
import type { ContainerEngine } from '../docker/connect.ts';
import { HaproxyRouter } from '../routers/haproxy/router.ts';
import type { Router } from '../routers/router.ts';
import { SharedRouter } from '../routers/shared.ts';
import { PreviewEnvironments } from '../previews/previews.ts';
import type { Sandbox } from '../sandboxes/sandbox.ts';
import type { Store } from '../store/store.ts';

export interface RuntimeOptions {
  config: Config;
  engine: ContainerEngine;
  owner: string;
  dataDir: string;
  store: Store;
  sandbox: Sandbox;
  /** Overrides the configuration's proxy settings; `owned` stops the proxy when the server closes (tests). */
  proxy?: Partial<ProxySettings> & { owned?: boolean };
  now: () => Date;
  log: (message: string) => void;
}

export interface Runtime {
  /** Null when the proxy cannot run (`reason` says why): deploys to the container host then fail. */
  deployer: ContainerHostDeployer | null;
  /** Null with no proxy. */
  previews: PreviewEnvironments | null;
  targets: Map<string, Deployer>;
  notices: string[];
  reason: string | null;
  close(): Promise<void>;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, engine, owner, store } = options;
  const targets = new Map<string, Deployer>();
  for (const [name, environment] of Object.entries(config.environments)) {
    if (environment.target === 'command' && environment.command) {
      targets.set(name, new CommandDeployer(engine, owner, { image: environment.command.image, run: environment.command.run, timeoutMs: environment.command.timeout }));
    }
  }
  const settings = { ...config.proxy, ...options.proxy };
  const notices: string[] = [];
  const installed = haproxyVersion();
  if (!installed.ok) {
    const reason = `the proxy cannot run: ${installed.reason} (scripts/setup-host.sh installs it)`;
    return { deployer: null, previews: null, targets, notices: [`Deploys to the container host need HAProxy; ${reason}.`], reason, close: async () => {} };
  }
  const router: Router = new HaproxyRouter({ dir: join(options.dataDir, 'proxy'), address: settings.address, port: settings.port, owned: options.proxy?.owned ?? false });
  try {
    await router.start();
  } catch (error) {
    const reason = `the proxy did not start: ${describeError(error)}`;
    return { deployer: null, previews: null, targets, notices: [`Deploys to the container host need HAProxy; ${reason}.`], reason, close: async () => {} };
  }
  const shared = new SharedRouter(router, ['environments', 'previews']);
  const deployer = new ContainerHostDeployer(engine, owner, shared.view('environments'));
  const previews = new PreviewEnvironments({ config, store, sandbox: options.sandbox, router: shared.view('previews'), routePorts: settings.route_ports, now: options.now, log: options.log });
  // Previews' routes first: the proxy hears of both groups at once (routers/shared.ts).
  await previews.declareRoutes();
  const routes: RouteDeclaration[] = [];
  for (const { service, environment } of deployedRoutes(config)) {
    const record = await store.routes.assign(service, environment, settings.route_ports, options.now().toISOString());
    if (!record) {
      notices.push(`No free port left in ${settings.route_ports.from}-${settings.route_ports.to} for ${service} in ${environment}: it is reached by host name only.`);
      continue;
    }
    const definition = config.services[service]!;
    routes.push({ service, environment, port: record.port, servicePort: definition.port!, aliases: definition.aliases, health: definition.health });
  }
  await deployer.declareRoutes(routes);
  return { deployer, previews, targets, notices, reason: null, close: () => router.stop() };
}

/** Every service with a port, in every container-host environment the pipeline deploys to. */
function deployedRoutes(config: Config): Array<{ service: string; environment: string }> {
  const environments = [...new Set(config.pipeline.flatMap((stage) => (stage.kind === 'deploy' && stage.environment ? [stage.environment] : [])))];
  return Object.entries(config.services).flatMap(([service, definition]) =>
    definition.port === undefined
      ? []
      : environments.filter((environment) => config.environments[environment]?.target === 'container-host').map((environment) => ({ service, environment })),
  );
}

function haproxyVersion(): { ok: true } | { ok: false; reason: string } {
  const result = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  if (result.error) return { ok: false, reason: 'haproxy is not installed' };
  return result.status === 0 ? { ok: true } : { ok: false, reason: `haproxy -v failed: ${result.stderr.trim()}` };
}
