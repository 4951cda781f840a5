// Reading a secret (a webhook secret, a password, a token) from the person at the terminal,
// without echoing it, or from stdin when it is piped in.

import { red } from './format.ts';

export class PromptError extends Error {}

/**
 * One line from stdin: piped in, or typed (not echoed) at a terminal after `prompt`. `pipeHint`
 * says how to pipe one in when nothing came.
 */
export async function readSecret(prompt: string, what: string, pipeHint: string): Promise<string> {
  const text = process.stdin.isTTY ? await readHidden(prompt) : await readAll(process.stdin);
  const value = text.replace(/\r?\n$/, '');
  if (value.trim() === '') throw new PromptError(`no ${what} on stdin; ${pipeHint}`);
  if (/[\r\n]/.test(value)) throw new PromptError(`the ${what} on stdin spans several lines; expected one line`);
  return value;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function readHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve) => {
    let typed = '';
    const done = (exitCode?: number) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (exitCode !== undefined) {
        process.stderr.write(`${red('slipway:')} cancelled\n`);
        process.exit(exitCode);
      }
      resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n' || character === '\u0004') return done();
        if (character === '\u0003') return done(130);
        if (character === '\u007f' || character === '\b') typed = typed.slice(0, -1);
        else typed += character;
      }
    };
    input.on('data', onData);
  });
}
