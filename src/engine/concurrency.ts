// Which pending runs may start now: pure, so the scheduler's whole policy is testable without
// I/O. A lane is one service's runs for one branch, pull request or tag (Run.lane).
//
//   queue      waits until every older run of its lane has ended, then starts (in order)
//   supersede  the engine cancels older runs of the lane when a newer one arrives, so what is
//              left behaves like a queue of one
//   parallel   starts as soon as there is room, whatever its lane is doing
//
// Runs of different lanes never wait for each other; all of them share `capacity`.

import { assertNever, type Run } from '../core/types.ts';

type Laned = Pick<Run, 'id' | 'service' | 'lane' | 'concurrency'>;

const laneKey = (run: Pick<Run, 'service' | 'lane'>) => `${run.service}\u0000${run.lane}`;

/** `pending` oldest first; `active` the runs in flight. Answers the runs to launch, in order. */
export function runsToStart<R extends Laned>(pending: R[], active: Laned[], capacity: number): R[] {
  const busyLanes = new Set(active.map(laneKey));
  const starting: R[] = [];
  let room = capacity - active.length;
  for (const run of pending) {
    if (room <= 0) break;
    const lane = laneKey(run);
    switch (run.concurrency) {
      case 'parallel':
        break;
      case 'queue':
      case 'supersede':
        if (busyLanes.has(lane)) continue;
        break;
      default:
        assertNever(run.concurrency, 'concurrency policy');
    }
    // Whatever its own policy, a run that starts holds its lane against queued runs behind it.
    busyLanes.add(lane);
    starting.push(run);
    room -= 1;
  }
  return starting;
}

/**
 * A pending run's place in its lane's line of pending runs: 1 when it is the next to start
 * there. Null for a parallel run, which waits for nothing but room.
 */
export function queuePosition(run: Laned, pending: Laned[]): number | null {
  if (run.concurrency === 'parallel') return null;
  const lane = laneKey(run);
  return pending.filter((other) => other.id < run.id && laneKey(other) === lane && other.concurrency !== 'parallel').length + 1;
}
