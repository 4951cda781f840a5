// Sandboxes on the container engine: one isolated bridge network per sandbox, whose DNS
// (aardvark-dns under Podman) answers each member's name and aliases with its address there,
// and one container per member. Readiness is checked from Slipway's host, which reaches the
// members' addresses on the bridge; a command check runs inside the member.

import { createConnection, isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import type { ReadinessCheck } from '../../config/integration.ts';
import { describeError } from '../../core/errors.ts';
import { assertNever } from '../../core/types.ts';
import { demultiplex, engineStatus, retryStorageRace } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import { ensureImage } from '../../docker/one-off.ts';
import { assertSandboxId, SandboxFailure, type Sandbox, type SandboxInfo, type SandboxLog, type SandboxMember, type SandboxSpec, type SandboxStarted } from '../sandbox.ts';

const LABEL = {
  owner: 'slipway.owner',
  sandbox: 'slipway.sandbox',
  run: 'slipway.run',
  stage: 'slipway.stage',
  member: 'slipway.member',
} as const;

const POLL_MS = 250;
/** A member's failing check is logged at most this often, so a slow start does not flood the log. */
const LOG_EVERY_MS = 5_000;

export class ContainerSandbox implements Sandbox {
  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
  ) {}

  private networkOf(id: string): string {
    return `slipway-${this.owner}-${id}`;
  }

  private containerOf(id: string, member: string): string {
    return `slipway-${this.owner}-${id}-${member}`;
  }

  async start(spec: SandboxSpec, log: SandboxLog, signal: AbortSignal): Promise<SandboxStarted> {
    assertSandboxId(spec.id);
    const network = this.networkOf(spec.id);
    const labels = { [LABEL.owner]: this.owner, [LABEL.sandbox]: spec.id, [LABEL.run]: String(spec.runId), [LABEL.stage]: String(spec.stageId) };
    await this.engine.docker.createNetwork({ Name: network, Driver: 'bridge', Options: { isolate: 'true' }, Labels: labels });
    log(`network ${network}`);
    const deadline = Date.now() + spec.readyTimeoutMs;
    // Settled, not raced: a container still being created when the caller removes the sandbox would be left behind.
    const creations = await Promise.allSettled(
      spec.members.map(async (member) => {
        signal.throwIfAborted();
        await ensureImage(this.engine, member.image, log, signal);
        const container = await retryStorageRace(() => this.engine.docker.createContainer(this.optionsOf(spec.id, network, member, labels)));
        await container.start();
        log(`started ${member.name} from ${member.image}`);
        return { member, container };
      }),
    );
    const started = creations.map((creation) => {
      if (creation.status === 'rejected') throw creation.reason;
      return creation.value;
    });
    // The first member that fails ends the others' waits.
    const failed = new AbortController();
    const waiting = AbortSignal.any([signal, failed.signal]);
    const addresses: Record<string, string> = {};
    try {
      await Promise.all(
        started.map(async ({ member, container }) => {
          const address = await this.waitReady(member, container, network, deadline, log, waiting);
          if (member.port !== null) addresses[member.name] = isIP(address) === 6 ? `[${address}]:${member.port}` : `${address}:${member.port}`;
        }),
      );
    } catch (error) {
      failed.abort(error);
      throw error;
    }
    return { network, addresses };
  }

  private optionsOf(id: string, network: string, member: SandboxMember, labels: Record<string, string>): Docker.ContainerCreateOptions {
    return {
      name: this.containerOf(id, member.name),
      Image: member.image,
      ...(member.command ? { Cmd: member.command } : {}),
      Env: Object.entries(member.env).map(([key, value]) => `${key}=${value}`),
      Labels: { ...labels, [LABEL.member]: member.name },
      ...(member.port ? { ExposedPorts: { [`${member.port}/tcp`]: {} } } : {}),
      HostConfig: { NetworkMode: network, Init: true },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [member.name, ...member.aliases] } } },
    };
  }

  /** Checks until the member is ready, answering its address on the network; throws once it exited or the deadline passed. */
  private async waitReady(member: SandboxMember, container: Docker.Container, network: string, deadline: number, log: SandboxLog, signal: AbortSignal): Promise<string> {
    const began = Date.now();
    let lastLogged = 0;
    for (;;) {
      signal.throwIfAborted();
      const info = await container.inspect();
      if (!info.State.Running) throw new SandboxFailure(member.name, `${member.name} exited with code ${info.State.ExitCode} before it was ready`);
      const address = info.NetworkSettings.Networks[network]?.IPAddress;
      const problem = address ? await this.check(member, container, address, member.readiness) : 'it has no address yet';
      if (problem === null) {
        log(`${member.name} is ready (${((Date.now() - began) / 1000).toFixed(1)} s)`);
        return address!;
      }
      if (Date.now() >= deadline) throw new SandboxFailure(member.name, `${member.name} was not ready in time: ${problem}`);
      if (Date.now() - lastLogged >= LOG_EVERY_MS) {
        if (lastLogged > 0) log(`${member.name} is not ready yet: ${problem}`);
        lastLogged = Date.now();
      }
      await sleep(intervalOf(member.readiness), undefined, { signal }).catch(() => undefined);
    }
  }

  /** Null when the check passes, else why not. */
  private async check(member: SandboxMember, container: Docker.Container, address: string, readiness: ReadinessCheck): Promise<string | null> {
    switch (readiness.kind) {
      case 'running':
        return null;
      case 'port':
        return member.port ? knock(address, member.port, readiness.timeoutMs) : null;
      case 'http': {
        const url = `http://${address}:${member.port ?? 80}${readiness.path}`;
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(readiness.timeoutMs) });
          await response.body?.cancel();
          return response.ok ? null : `GET ${readiness.path} answered ${response.status}`;
        } catch (error) {
          return `GET ${readiness.path}: ${describeError(error)}`;
        }
      }
      case 'command': {
        const exec = await container.exec({ Cmd: ['sh', '-c', readiness.command], AttachStdout: true, AttachStderr: true });
        const stream = await exec.start({});
        stream.resume();
        const timer = new AbortController();
        await Promise.race([new Promise((resolve) => stream.once('end', resolve)), sleep(readiness.timeoutMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
        timer.abort();
        const { ExitCode, Running } = await exec.inspect();
        if (Running) return `"${readiness.command}" took longer than ${readiness.timeoutMs} ms`;
        return ExitCode === 0 ? null : `"${readiness.command}" exited with code ${ExitCode}`;
      }
      default:
        return assertNever(readiness, 'readiness check');
    }
  }

  async lastLines(id: string, member: string, count: number): Promise<string[]> {
    try {
      const buffer = (await this.engine.docker.getContainer(this.containerOf(id, member)).logs({ stdout: true, stderr: true, tail: count, follow: false })) as Buffer;
      const text = demultiplex(buffer)
        .map((frame) => frame.payload.toString('utf8'))
        .join('');
      return text.split('\n').filter((line, index, lines) => line !== '' || index < lines.length - 1).slice(-count);
    } catch (error) {
      if (engineStatus(error) === 404) return [];
      throw error;
    }
  }

  async remove(id: string): Promise<void> {
    assertSandboxId(id);
    const containers = await retryStorageRace(() =>
      this.engine.docker.listContainers({ all: true, filters: { label: [`${LABEL.owner}=${this.owner}`, `${LABEL.sandbox}=${id}`] } }),
    );
    await Promise.all(
      containers.map((container) =>
        this.engine.docker
          .getContainer(container.Id)
          .remove({ force: true, v: true })
          .catch((error: unknown) => {
            if (engineStatus(error) !== 404) throw error;
          }),
      ),
    );
    try {
      await this.engine.docker.getNetwork(this.networkOf(id)).remove();
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
  }

  async list(): Promise<SandboxInfo[]> {
    const networks = await this.engine.docker.listNetworks({ filters: { label: [`${LABEL.owner}=${this.owner}`, LABEL.sandbox] } });
    const containers = await this.engine.docker.listContainers({ all: true, filters: { label: [`${LABEL.owner}=${this.owner}`, LABEL.sandbox] } });
    const found = new Map<string, SandboxInfo>();
    for (const labels of [...networks.map((network) => network.Labels ?? {}), ...containers.map((container) => container.Labels)]) {
      const id = labels[LABEL.sandbox];
      if (id && !found.has(id)) found.set(id, { id, runId: Number(labels[LABEL.run]), stageId: Number(labels[LABEL.stage]) });
    }
    return [...found.values()];
  }
}

function intervalOf(readiness: ReadinessCheck): number {
  return readiness.kind === 'running' ? POLL_MS : Math.max(POLL_MS, readiness.intervalMs);
}

/** Null once a TCP connection opens. */
function knock(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`port ${port} took no connection in ${timeoutMs} ms`);
    });
    socket.once('error', (error) => resolve(`port ${port}: ${error.message}`));
  });
}
