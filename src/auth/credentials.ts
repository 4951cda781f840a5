// Where the CLI keeps its API tokens: one per server URL in the user's config folder
// ($XDG_CONFIG_HOME/slipway/credentials.json, else ~/.config/slipway/credentials.json), readable
// by its owner only. `slipway login` writes it; so does `slipway up` for the admin it creates
// on first start, which is how `npm start` then `npx slipway status` just work.

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface SavedCredential {
  token: string;
  user: string;
  savedAt: string;
}

interface CredentialsFile {
  servers: Record<string, SavedCredential>;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const configHome = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(configHome, 'slipway', 'credentials.json');
}

/**
 * One key per server however its URL is spelled: lower-case host, no trailing slash, and a
 * wildcard listen address read as loopback (where a CLI on the same machine reaches it).
 */
export function serverKey(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (parsed.hostname === '[::]') parsed.hostname = '[::1]';
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

function read(path: string): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CredentialsFile>;
    return { servers: typeof parsed.servers === 'object' && parsed.servers !== null ? parsed.servers : {} };
  } catch {
    throw new Error(`${path} is not valid JSON; fix or remove it, then run slipway login again`);
  }
}

export function savedCredential(url: string, path = credentialsPath()): SavedCredential | null {
  return read(path).servers[serverKey(url)] ?? null;
}

/** Saves (or, with null, forgets) the token for a server; the file is replaced whole, never half-written. */
export function saveCredential(url: string, credential: Omit<SavedCredential, 'savedAt'> | null, path = credentialsPath()): void {
  const file = read(path);
  const key = serverKey(url);
  if (credential === null) delete file.servers[key];
  else file.servers[key] = { ...credential, savedAt: new Date().toISOString() };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
