// The polling trigger, for repositories where no webhook can be installed: every interval it
// reads the remote's branch heads and reports each watched branch that moved since last time.
// The last head seen is kept durably, so a move made while the server was down is still reported.

import { redactUrls } from '../core/redact.ts';
import { describeError } from '../core/errors.ts';
import type { Source } from '../source/source.ts';
import type { CursorRepository } from '../store/store.ts';

/** The head a branch has when it does not exist: "before" of a created branch, "after" of a deleted one. */
export const NO_COMMIT = '0'.repeat(40);

export interface PolledRepository {
  /** Each repository appears once; its branches are every branch any of its services follows. */
  repo: string;
  intervalMs: number;
  /** Only these branches are watched; others may come, go and move unnoticed. */
  branches: string[];
}

/** A watched branch's head changed; `before` is NO_COMMIT for a created branch, `after` for a deleted one. */
export interface BranchMoved {
  repo: string;
  branch: string;
  before: string;
  after: string;
}

export interface PollerOptions {
  repositories: PolledRepository[];
  source: Pick<Source, 'branches'>;
  cursors: CursorRepository;
  /**
   * Handles one move. The move counts as handled only once this resolves: a rejection (or a
   * crash before it resolves) offers the same move again at the next poll.
   */
  onMoved(change: BranchMoved): Promise<void>;
  log?: (message: string) => void;
}

export class Poller {
  private readonly repositories: PolledRepository[];
  private readonly source: Pick<Source, 'branches'>;
  private readonly cursors: CursorRepository;
  private readonly onMoved: (change: BranchMoved) => Promise<void>;
  private readonly log: (message: string) => void;
  private readonly timers: NodeJS.Timeout[] = [];
  /** The poll in progress per repository; a second request for it joins this one instead of overlapping. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Repositories whose last poll could not read them, so an outage is logged once, not every interval. */
  private readonly unreadable = new Set<string>();

  constructor(options: PollerOptions) {
    this.repositories = options.repositories;
    this.source = options.source;
    this.cursors = options.cursors;
    this.onMoved = options.onMoved;
    this.log = options.log ?? (() => {});
  }

  /** Polls every repository now, then each every its intervalMs. Call once; the timers do not keep the process alive. */
  start(): void {
    void this.pollNow();
    for (const repository of this.repositories) {
      this.timers.push(setInterval(() => void this.poll(repository), repository.intervalMs).unref());
    }
  }

  /** Stops the timers and waits for the polls in progress to finish. */
  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all(this.inFlight.values());
  }

  /**
   * Polls every repository, or only `repo` (a repository not configured for polling is
   * ignored). Joins a poll already in progress rather than starting a second one. Never rejects:
   * failures are logged.
   */
  async pollNow(repo?: string): Promise<void> {
    const chosen = repo === undefined ? this.repositories : this.repositories.filter((repository) => repository.repo === repo);
    await Promise.all(chosen.map((repository) => this.poll(repository)));
  }

  private poll(repository: PolledRepository): Promise<void> {
    const running = this.inFlight.get(repository.repo);
    if (running) return running;
    const poll = this.readHeads(repository)
      // The last resort for a source that throws instead of returning an error: timers have no one to reject to.
      .catch((error: unknown) => this.log(`polling ${redactUrls(repository.repo)} failed: ${describeError(error)}`))
      .finally(() => this.inFlight.delete(repository.repo));
    this.inFlight.set(repository.repo, poll);
    return poll;
  }

  private async readHeads(repository: PolledRepository): Promise<void> {
    const heads = await this.source.branches(repository.repo);
    if (!heads.ok) {
      if (!this.unreadable.has(repository.repo)) {
        this.unreadable.add(repository.repo);
        this.log(`cannot poll ${redactUrls(repository.repo)}: ${heads.error.message}; will keep trying, and say when it works again`);
      }
      return;
    }
    if (this.unreadable.delete(repository.repo)) this.log(`polling ${redactUrls(repository.repo)} works again`);
    for (const branch of repository.branches) {
      await this.compare(repository.repo, branch, heads.value[branch] ?? NO_COMMIT);
    }
  }

  private async compare(repo: string, branch: string, head: string): Promise<void> {
    const key = `poll:${repo}#${branch}`;
    try {
      const seen = await this.cursors.get(key);
      // First sighting is a baseline: the poller cannot know what the branch was before it
      // looked. A branch that does not exist yet is recorded as NO_COMMIT, so its creation
      // is reported later.
      if (seen === null) {
        await this.cursors.set(key, head);
        return;
      }
      if (seen === head) return;
      await this.onMoved({ repo, branch, before: seen, after: head });
      // Only now: a failure or crash before this line offers the move again rather than losing it.
      await this.cursors.set(key, head);
    } catch (error) {
      this.log(`polling ${repo}: could not handle ${branch} at ${head}: ${describeError(error)}; trying again at the next poll`);
    }
  }
}
