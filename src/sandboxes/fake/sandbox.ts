// An in-memory Sandbox for the engine's tests: members "start" at once; how each behaves is
// set per image (ready by default, never ready, or exiting), with the lines it "printed".

import { assertSandboxId, SandboxFailure, type Sandbox, type SandboxInfo, type SandboxLog, type SandboxSpec, type SandboxStarted } from '../sandbox.ts';

export type FakeImageBehaviour = { state: 'ready' | 'never-ready' | 'exits'; lines?: string[] };

export class FakeSandbox implements Sandbox {
  private readonly images = new Map<string, FakeImageBehaviour>();
  private readonly sandboxes = new Map<string, { spec: SandboxSpec; started: Set<string> }>();
  /** Every spec started, in order, for tests to look at. */
  readonly started: SandboxSpec[] = [];

  /** How members from `image` behave. */
  image(image: string, behaviour: FakeImageBehaviour): void {
    this.images.set(image, behaviour);
  }

  async start(spec: SandboxSpec, log: SandboxLog, signal: AbortSignal): Promise<SandboxStarted> {
    assertSandboxId(spec.id);
    if (this.sandboxes.has(spec.id)) throw new Error(`sandbox ${spec.id} already exists`);
    const sandbox = { spec, started: new Set<string>() };
    this.sandboxes.set(spec.id, sandbox);
    this.started.push(spec);
    for (const member of spec.members) {
      signal.throwIfAborted();
      sandbox.started.add(member.name);
      log(`started ${member.name} from ${member.image}`);
    }
    const addresses: Record<string, string> = {};
    for (const [index, member] of spec.members.entries()) {
      const state = this.images.get(member.image)?.state ?? 'ready';
      if (state === 'exits') throw new SandboxFailure(member.name, `${member.name} exited with code 1 before it was ready`);
      if (state === 'never-ready') throw new SandboxFailure(member.name, `${member.name} was not ready in time`);
      log(`${member.name} is ready`);
      if (member.port !== null) addresses[member.name] = `10.89.${this.started.length % 250}.${index + 2}:${member.port}`;
    }
    return { network: `fake-${spec.id}`, addresses };
  }

  async lastLines(id: string, member: string, count: number): Promise<string[]> {
    const sandbox = this.sandboxes.get(id);
    const spec = sandbox?.spec.members.find((candidate) => candidate.name === member);
    if (!spec || !sandbox?.started.has(member)) return [];
    return (this.images.get(spec.image)?.lines ?? []).slice(-count);
  }

  async remove(id: string): Promise<void> {
    assertSandboxId(id);
    this.sandboxes.delete(id);
  }

  async list(): Promise<SandboxInfo[]> {
    return [...this.sandboxes.values()].map(({ spec }) => ({ id: spec.id, runId: spec.runId, stageId: spec.stageId }));
  }
}
