// How long a CLI command that asks the server one question takes, start to exit: `slipway runs
// --json` as a user types it (bin/slipway.js, the built JavaScript), against `node -e 0` (a
// Node process that does nothing) and the same GET from a plain ES module through node:http (the
// least such a command can cost) in the same run, alternating one of each. The server runs in
// this process with a process executor and the demo-free configuration below.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer } from '../src/server/main.ts';
import { summarize, type Summary } from './stats.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/slipway.js', import.meta.url));
/** `runs --json` without the CLI: one GET, the answer printed as the CLI prints it. argv[1] is the server. */
const ONE_GET = `
import { request } from 'node:http';
request(new URL('/api/runs?limit=20', process.argv[1]), { headers: { authorization: 'Bearer ' + process.env.SLIPWAY_TOKEN } }, (response) => {
  const chunks = [];
  response.on('data', (chunk) => chunks.push(chunk));
  response.on('end', () => process.stdout.write(JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()), null, 2) + '\\n', () => process.exit()));
}).end();`;

export interface CliResult {
  command: string;
  slipway: Summary;
  nodeAlone: Summary;
  /** The same GET from a plain ES module through node:http. */
  oneGet: Summary;
  /** Median of the command over median of `node -e 0`. */
  ratio: number;
  /** What the command costs beyond starting Node, median. */
  addedMs: number;
  /** What the command costs beyond the plain GET, median: the CLI's own part. */
  beyondGetMs: number;
}

export async function benchCli(iterations: number, progress: (line: string) => void): Promise<CliResult> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-bench-cli-'));
  const configFile = join(root, 'slipway.yml');
  writeFileSync(configFile, 'pipeline:\n  - stage: test\n    run: "true"\nservices:\n  api: { repo: /nowhere.git }\n');
  const server = await startServer({ configFile, dataDir: join(root, 'data'), port: 0, processExecutor: true, credentialsFile: null, say: () => {} });
  try {
    const env = { ...process.env, SLIPWAY_TOKEN: readFileSync(join(root, 'data', 'cli-token'), 'utf8').trim(), NO_COLOR: '1' };
    const args = [BIN, '--server', server.url, 'runs', '--json'];
    const oneGetArgs = ['--input-type=module', '-e', ONE_GET, server.url];
    // Asynchronously: the server answering the command runs in this process.
    const time = async (argv: string[]) => {
      const began = performance.now();
      await run(process.execPath, argv, { env });
      return performance.now() - began;
    };
    // Warm the file cache for each.
    await time(args);
    await time(['-e', '0']);
    await time(oneGetArgs);
    const slipway: number[] = [];
    const nodeAlone: number[] = [];
    const oneGet: number[] = [];
    for (let i = 0; i < iterations; i++) {
      slipway.push(await time(args));
      nodeAlone.push(await time(['-e', '0']));
      oneGet.push(await time(oneGetArgs));
      if ((i + 1) % 10 === 0) progress(`cli: ${i + 1}/${iterations}`);
    }
    const a = summarize(slipway);
    const b = summarize(nodeAlone);
    const c = summarize(oneGet);
    return { command: 'slipway runs --json', slipway: a, nodeAlone: b, oneGet: c, ratio: a.medianMs / b.medianMs, addedMs: a.medianMs - b.medianMs, beyondGetMs: a.medianMs - c.medianMs };
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
}
