// Drives the real `slipway` command as a user would: child processes, real output.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentialsPath, savedCredential } from '../../src/auth/credentials.ts';

export const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));

/**
 * The servers and CLI commands of one test file share a config folder of their own: the first
 * `slipway up` saves the CLI's token there, as on a user's machine, and test files running side
 * by side do not write each other's.
 */
export const CONFIG_HOME = mkdtempSync(join(tmpdir(), 'slipway-config-'));
const cliEnv = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: CONFIG_HOME, ...extra });

/** The token the first start of the server at `url` saved for the CLI of this test file. */
export function savedTokenFor(url: string): string | undefined {
  return savedCredential(url, credentialsPath({ XDG_CONFIG_HOME: CONFIG_HOME }))?.token;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function slipway(args: string[], options: { server?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  const fullArgs = options.server ? ['--server', options.server, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...fullArgs], { env: cliEnv(options.env) });
    child.stdin.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`slipway ${fullArgs.join(' ')} did not end within ${options.timeoutMs ?? 180_000} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  url: string;
  process: ChildProcess;
  output: () => string;
  /** SIGKILL: no shutdown code runs, as in a crash. */
  kill(): Promise<void>;
}

/** Starts `slipway up` on a free port and resolves once it has printed its start-up summary. */
export function startServerProcess(args: string[]): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'up', '--port', '0', ...args], { env: cliEnv() });
    let output = '';
    let started = false;
    const collect = (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      // The summary ends with the "try:" hint; wait for it so notices are in output().
      if (started || !match || !output.includes('try: ')) return;
      started = true;
      resolve({
        url: match[1]!,
        process: child,
        output: () => output,
        kill: () =>
          new Promise((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGKILL');
          }),
      });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('exit', (code) => {
      if (!started) reject(new Error(`slipway up exited with ${code}:\n${output}`));
    });
  });
}
