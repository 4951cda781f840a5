#!/usr/bin/env node
// Runs the CLI as `npm install` built it (dist/, see tsconfig.build.json), so a command starts
// without compiling TypeScript. A checkout that was never built runs the sources through tsx.
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

if (!process.argv.slice(2).includes('up')) {
  // fetch's HTTP parser is WebAssembly, and V8 optimises it on background threads that exit
  // waits for: ~0.2 s on every client command, for a parser that reads a few small answers.
  setFlagsFromString('--liftoff-only');
}

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
