// Finds a Docker Engine API: DOCKER_HOST, Docker's socket, or Podman's (starting Podman's API
// service when Podman is installed but its service is not running). Executors, the builder and
// the container-host deployer all talk to the engine through the client returned here.

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';

const execFileAsync = promisify(execFile);

export interface ContainerEngine {
  docker: Docker;
  /** "podman 4.3.1" or "docker 28.2.2". */
  name: string;
  /** Where it was found: a socket path or DOCKER_HOST. */
  endpoint: string;
}

export type EngineLookup = { ok: true; engine: ContainerEngine } | { ok: false; reason: string };

function clientFor(endpoint: string): Docker {
  if (endpoint.startsWith('unix://')) return new Docker({ socketPath: endpoint.slice('unix://'.length) });
  if (endpoint.startsWith('/')) return new Docker({ socketPath: endpoint });
  const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: url.protocol === 'https:' ? 'https' : 'http' });
}

/** A loaded engine can take seconds to answer; a slow answer must not read as "not running". */
const PROBE_TIMEOUT_MS = 10_000;

async function probe(endpoint: string): Promise<ContainerEngine | null> {
  const docker = clientFor(endpoint);
  try {
    const version = await withTimeout(docker.version(), PROBE_TIMEOUT_MS);
    const isPodman = (version.Components ?? []).some((c) => /podman/i.test(c.Name));
    return { docker, endpoint, name: `${isPodman ? 'podman' : 'docker'} ${version.Version}` };
  } catch {
    return null;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error) => (clearTimeout(timer), reject(error)),
    );
  });
}

function candidateSockets(): string[] {
  const sockets = ['/var/run/docker.sock', '/run/podman/podman.sock'];
  const runtimeDir = process.env.XDG_RUNTIME_DIR;
  if (runtimeDir) sockets.push(`${runtimeDir}/podman/podman.sock`, `${runtimeDir}/docker.sock`);
  return sockets;
}

async function podmanInstalled(): Promise<boolean> {
  try {
    await execFileAsync('podman', ['--version']);
    return true;
  } catch {
    return false;
  }
}

function podmanSocketPath(): string {
  if (process.getuid?.() === 0) return '/run/podman/podman.sock';
  return `${process.env.XDG_RUNTIME_DIR ?? `/tmp/podman-run-${process.getuid?.()}`}/podman/podman.sock`;
}

/**
 * Starts `podman system service` detached, so it outlives this process (steps running in
 * containers must survive a server restart), and waits for it to answer.
 */
async function startPodmanService(): Promise<ContainerEngine | null> {
  const socket = podmanSocketPath();
  mkdirSync(dirname(socket), { recursive: true });
  // From /: conmon writes its "oom" markers into the service's working folder.
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { detached: true, stdio: 'ignore', cwd: '/' });
  child.unref();
  for (let attempt = 0; attempt < 50; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!existsSync(socket)) continue;
    const engine = await probe(socket);
    if (engine) return engine;
  }
  return null;
}

/** Finds (or starts) the container engine; never throws. */
export async function findContainerEngine(options: { startPodman?: boolean } = {}): Promise<EngineLookup> {
  const fromEnv = process.env.DOCKER_HOST;
  if (fromEnv) {
    const engine = await probe(fromEnv);
    return engine ? { ok: true, engine } : { ok: false, reason: `DOCKER_HOST is ${fromEnv}, but no container engine answers there` };
  }
  for (const socket of candidateSockets()) {
    if (!existsSync(socket)) continue;
    const engine = await probe(socket);
    if (engine) return { ok: true, engine };
  }
  if (options.startPodman !== false && (await podmanInstalled())) {
    const engine = await startPodmanService();
    if (engine) return { ok: true, engine };
    return { ok: false, reason: 'Podman is installed but its API service did not start (try `podman system service` by hand)' };
  }
  return { ok: false, reason: 'no container engine found (no DOCKER_HOST, no Docker or Podman socket, Podman not installed)' };
}

/** Reads a build/push/pull progress stream to its end; rejects on an error message in it. */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent: (event: ProgressEvent) => void = () => {},
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: ProgressEvent[]) => {
        if (error) return reject(error);
        const failed = events.find((event) => event.error || event.errorDetail);
        if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error ?? 'unknown error'));
        resolve(events);
      },
      onEvent,
    );
  });
}

export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string };
}
