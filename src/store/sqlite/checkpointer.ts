// WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside whichever
// commit crosses the threshold: it copies the WAL into the database file and fsyncs both, so
// one webhook in a few hundred would wait tens of milliseconds (seconds on a slow disk) for
// work that is not its own. A worker thread with its own connection checkpoints instead,
// PASSIVE so it never blocks a writer or a reader; the main connection keeps a far larger
// automatic threshold only as a backstop, should the worker fall behind or die.

import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const EVERY_MS = 500;

/** Plain JavaScript: the worker needs no TypeScript loader. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage(String((error && error.message) || error));
  }
}, workerData.everyMs);
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing the WAL of the database file at `path`; `log` hears of failed checkpoints. */
export function startCheckpointer(path: string, log: (message: string) => void = () => {}): Checkpointer {
  const worker = new Worker(WORKER, { eval: true, workerData: { path, everyMs: EVERY_MS, driver: createRequire(import.meta.url).resolve('better-sqlite3') } });
  worker.on('message', (message: string) => log(`checkpoint of ${path} failed: ${message}`));
  worker.on('error', (error) => log(`checkpoints of ${path} stopped: ${error.message}`));
  // Never what keeps the process alive.
  worker.unref();
  return {
    // Stopping mid-checkpoint is safe: SQLite finishes or redoes it on the next one.
    async stop() {
      await worker.terminate();
    },
  };
}
