// Which limit a container's step ran into, read from the container's own cgroup while it runs.
//
// The engine's word comes first (inspect's State.OOMKilled), but Podman 4.3 with runc on cgroup
// v1 never sets it (conmon's OOM notification does not fire on this kernel), and no engine says
// when a fork was refused at the pids limit. Where the engine runs on this host, the cgroup's
// counters tell both: memory's oom_kill and pids' `max` (forks refused). They only grow, and
// the cgroup outlives the step's last process until the engine's cleanup removes it (some
// 300 ms on Podman), so polling, plus a reading when the output ends, sees the final values.
// A remote engine leaves nothing to read here: then only the engine's word counts.

import { existsSync, readdirSync, readFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const POLL_MS = 100;
/** Engines put a container's cgroup one or two levels down (libpod_parent/libpod-<id>, machine.slice/libpod-<id>.scope). */
const SEARCH_DEPTH = 3;

export interface LimitCounters {
  oomKills: number;
  /** Forks refused because the container reached its pids limit. */
  forkRefusals: number;
}

interface Counter {
  file: string;
  pattern: RegExp;
}

const OOM_KILL = /^oom_kill (\d+)$/m;
const PIDS_MAX = /^max (\d+)$/m;

export class CgroupWatch {
  private readonly seen: LimitCounters = { oomKills: 0, forkRefusals: 0 };
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private memory: Counter | null,
    private pids: Counter | null,
  ) {
    this.timer = setInterval(() => this.sample(), POLL_MS);
    this.timer.unref();
    this.sample();
  }

  /**
   * Watches the cgroups of the container with this id on this host; null when there are none
   * here (a remote engine). They are found by name, as every engine names a container's
   * cgroup with its full id (libpod-<id>, docker-<id>.scope, docker/<id>): no process of the
   * step is needed, so a step that ended already is still found until its cgroup is removed.
   */
  static start(containerId: string): CgroupWatch | null {
    const memory: Counter[] = [];
    const pids: Counter[] = [];
    for (const folder of cgroupRoots().flatMap((root) => foldersNaming(root, containerId, SEARCH_DEPTH))) {
      memory.push({ file: join(folder, 'memory.oom_control'), pattern: OOM_KILL }, { file: join(folder, 'memory.events'), pattern: OOM_KILL });
      pids.push({ file: join(folder, 'pids.events'), pattern: PIDS_MAX });
    }
    const readable = (counters: Counter[]) => counters.find((counter) => read(counter) !== null) ?? null;
    const [memoryCounter, pidsCounter] = [readable(memory), readable(pids)];
    if (!memoryCounter && !pidsCounter) return null;
    return new CgroupWatch(memoryCounter, pidsCounter);
  }

  get counters(): LimitCounters {
    return { ...this.seen };
  }

  /** Reads the counters now; a counter whose cgroup is gone keeps its last value. */
  sample(): void {
    if (this.memory) {
      const value = read(this.memory);
      if (value === null) this.memory = null;
      else this.seen.oomKills = Math.max(this.seen.oomKills, value);
    }
    if (this.pids) {
      const value = read(this.pids);
      if (value === null) this.pids = null;
      else this.seen.forkRefusals = Math.max(this.seen.forkRefusals, value);
    }
    if (!this.memory && !this.pids) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** cgroup v2's root when it is the only hierarchy; else v1's memory and pids hierarchies and v2's beside them (hybrid). */
function cgroupRoots(): string[] {
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return [CGROUP_ROOT];
  return ['memory', 'pids', 'unified'].map((hierarchy) => join(CGROUP_ROOT, hierarchy));
}

/** Folders under `root`, `depth` levels down at most, whose name holds `name`; the search does not go into them. */
function foldersNaming(root: string, name: string, depth: number): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (entry.name.includes(name)) found.push(join(root, entry.name));
    else if (depth > 1) found.push(...foldersNaming(join(root, entry.name), name, depth - 1));
  }
  return found;
}

/** The counter's value, or null when its file cannot be read (the cgroup is gone). */
function read(counter: Counter): number | null {
  try {
    const match = counter.pattern.exec(readFileSync(counter.file, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
