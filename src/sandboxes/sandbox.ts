// A Sandbox is an ephemeral environment: containers on an isolated network of their own, each
// reachable by the others under its name and aliases, for one integration stage. Nothing in it
// is reachable from another sandbox or from a deployed environment.
//
// Contract, for one sandbox id:
//   1. start(spec, log, signal) -> the network steps join to reach the members, and the address
//      (ip:port) each member with a port is reached at from this host (where a proxy sends a
//      preview's requests). Creates the network, starts every member, and resolves once every
//      member passed its readiness check.
//      A member that exits, or is not ready within spec.readyTimeoutMs, makes it throw a
//      SandboxFailure naming that member; an aborted signal makes it throw the signal's reason.
//      Either way what was started stays until remove(), so its logs can still be read.
//   2. lastLines(id, member, count) -> the last `count` lines a member printed (both streams,
//      in order); [] for a member that never started.
//   3. remove(id) -> takes away every container and the network of the sandbox. Safe to call
//      twice, for an id never started, and from another process than the one that started it.
// list() answers the sandboxes that exist for this Slipway (found by their labels, so after a
// crash too), for start-up to remove those no stage or preview holds. Sandboxes of different
// ids never collide, even with members of the same names.

import type { ReadinessCheck } from '../config/integration.ts';

export interface SandboxMember {
  /** Its host name on the sandbox's network. */
  name: string;
  aliases: string[];
  /** An image reference the engine has or can pull. */
  image: string;
  /** Its command, when not the image's own. */
  command: string[] | null;
  env: Record<string, string>;
  /** The port it listens on: what `http` and `port` readiness checks knock on. */
  port: number | null;
  readiness: ReadinessCheck;
}

export interface SandboxSpec {
  /** Letters, digits and '-': unique among this Slipway's sandboxes; names and labels everything the sandbox holds. */
  id: string;
  runId: number;
  stageId: number;
  members: SandboxMember[];
  /** How long the members together may take to be ready. */
  readyTimeoutMs: number;
}

export interface SandboxInfo {
  id: string;
  runId: number;
  stageId: number;
}

export type SandboxLog = (text: string) => void;

export interface SandboxStarted {
  /** The network a step joins to call the members by name. */
  network: string;
  /** By member name, for members with a port: `ip:port` (`[ipv6]:port`) reached from this host. */
  addresses: Record<string, string>;
}

/** A member that did not become ready: `member` is its name. */
export class SandboxFailure extends Error {
  constructor(
    readonly member: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Sandbox {
  start(spec: SandboxSpec, log: SandboxLog, signal: AbortSignal): Promise<SandboxStarted>;
  lastLines(id: string, member: string, count: number): Promise<string[]>;
  remove(id: string): Promise<void>;
  list(): Promise<SandboxInfo[]>;
}

const SANDBOX_ID = /^[a-z0-9][a-z0-9-]{0,40}$/;

/** The sandbox of one integration stage. */
export function sandboxIdOf(stageId: number): string {
  return `it${stageId}`;
}

export function assertSandboxId(id: string): void {
  if (!SANDBOX_ID.test(id)) throw new Error(`sandbox id "${id}" may only hold lower-case letters, digits and "-"`);
}
