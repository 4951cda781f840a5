// The continuous client (traffic.ts) in a process of its own, as real clients are: sending
// requests as fast as it does from the server's own process would take the server's event loop
// from it. Started with its options as JSON in argv; "stop" over IPC answers the final report.

import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTraffic, type TrafficOptions, type TrafficReport } from './traffic.ts';

export interface TrafficProcess {
  stop(): Promise<TrafficReport>;
}

export function spawnTraffic(options: Omit<TrafficOptions, 'log'>): TrafficProcess {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const report = new Promise<TrafficReport>((resolve, reject) => {
    child.once('message', (message) => resolve(message as TrafficReport));
    child.once('exit', (code) => reject(new Error(`the traffic process exited with ${code} before reporting`)));
  });
  return {
    async stop() {
      child.send('stop');
      return report;
    },
  };
}

// Run as the child: this file is the process's entry point.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.send) {
  const traffic = startTraffic(JSON.parse(process.argv[2] ?? "{}") as TrafficOptions);
  process.once('message', async () => {
    const final = await traffic.stop();
    process.send!(final, () => process.exit(0));
  });
}
