import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ProcessExecutor } from '../../src/executors/process/executor.ts';
import { executorConformance } from './executor-conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'slipway-process-executor-'));
after(() => rmSync(root, { recursive: true, force: true }));

executorConformance('process', async () => ({
  executor: new ProcessExecutor(),
  image: null,
  workspace: () => mkdtempSync(join(root, 'workspace-')),
}));
