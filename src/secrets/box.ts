// Seals secrets kept in the store (webhook and environment secrets) with AES-256-GCM, so a
// copied database alone reveals none of them. The key is never stored in the database: it is
// SLIPWAY_SECRET_KEY when set (the file is then never touched), else a key file in the data
// folder, made on first use and readable by the server's user only.
//
// A sealed value names its key: "v2.<keyId>.<iv>.<tag>.<ciphertext>" (keyId: the first 16 hex
// characters of the key's SHA-256; the rest base64url). A box holds a ring of keys: it seals
// under the current one and unseals under whichever the value names; "v1.<iv>.<tag>.<ciphertext>"
// values, from before key ids, are tried under every key in the ring.
//
// Rotating a file key, so that a crash at any point leaves every stored value readable:
//   1. `rotated = box.beginRotation()` writes a new key to <keyFile>.next (fsynced before any
//      value is sealed under it; one left by an interrupted rotation is reused). `rotated` seals
//      under the new key and still reads the old one; `box` refuses to seal from then on, since
//      what it sealed would be lost at step 3.
//   2. The caller re-seals every stored value that `!rotated.isCurrent(value)` in one transaction.
//   3. `rotated.commitRotation()` renames <keyFile>.next over <keyFile> and fsyncs the folder.
// A crash before step 3 leaves both files. `open` then reads both keys, seals under <keyFile>'s
// and sets `interruptedRotation`: the server re-seals every value not `isCurrent` in one
// transaction and then calls `finishInterruptedRotation()`, which removes <keyFile>.next.
//
// An environment key is rotated by its operator: the new key in SLIPWAY_SECRET_KEY, the old one
// in SLIPWAY_SECRET_KEY_PREVIOUS, and a restart; the server re-seals as after an interrupted
// rotation, after which SLIPWAY_SECRET_KEY_PREVIOUS can go.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export const SECRET_KEY_VARIABLE = 'SLIPWAY_SECRET_KEY';
export const PREVIOUS_SECRET_KEY_VARIABLE = 'SLIPWAY_SECRET_KEY_PREVIOUS';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[0-9a-f]{16}$/;

interface Key {
  readonly id: string;
  readonly bytes: Buffer;
}

interface Sealed {
  /** null for a "v1." value, which does not name its key. */
  keyId: string | null;
  iv: Buffer;
  tag: Buffer;
  body: Buffer;
}

export interface OpenOptions {
  /** Where SLIPWAY_SECRET_KEY and SLIPWAY_SECRET_KEY_PREVIOUS are read; process.env when not given. */
  env?: NodeJS.ProcessEnv;
}

export class SecretBox {
  // Private fields (#), not `private`: util.inspect and console.log show the latter, keys and all.
  readonly #current: Key;
  readonly #ring: readonly Key[];
  readonly #keyFile: string | null;
  /** The current key is still only in <keyFile>.next: this box came from beginRotation, uncommitted. */
  #pending: boolean;
  /** beginRotation was called: a value sealed here now would be unreadable once the rotation commits. */
  #retired = false;
  #interrupted: boolean;

  private constructor(
    readonly source: 'file' | 'environment',
    current: Key,
    others: readonly Key[],
    keyFile: string | null,
    options: { pending: boolean; interrupted: boolean },
  ) {
    this.#current = current;
    this.#ring = [current, ...others].filter((key, index, all) => all.findIndex((other) => other.id === key.id) === index);
    this.#keyFile = keyFile;
    this.#pending = options.pending;
    this.#interrupted = options.interrupted;
  }

  /**
   * The key from SLIPWAY_SECRET_KEY when set, else from `keyFile` (created when missing), plus
   * <keyFile>.next left by an interrupted rotation and SLIPWAY_SECRET_KEY_PREVIOUS, for reading.
   */
  static open(keyFile: string, options: OpenOptions = {}): SecretBox {
    const env = options.env ?? process.env;
    const previousText = env[PREVIOUS_SECRET_KEY_VARIABLE];
    const previous = previousText === undefined ? [] : [parseKey(previousText, PREVIOUS_SECRET_KEY_VARIABLE)];
    const fromEnv = env[SECRET_KEY_VARIABLE];
    if (fromEnv !== undefined) {
      return new SecretBox('environment', parseKey(fromEnv, SECRET_KEY_VARIABLE), previous, null, { pending: false, interrupted: previous.length > 0 });
    }
    const next = nextFileOf(keyFile);
    const rotating = existsSync(next);
    if (rotating && !existsSync(keyFile)) {
      // Making a fresh key here would leave the values sealed under the lost one unreadable for good.
      throw new Error(`${keyFile} is missing but ${next}, left by a key rotation, is there: restore ${keyFile} from a backup`);
    }
    createKeyFile(keyFile);
    const others = rotating ? [readKey(next), ...previous] : previous;
    return new SecretBox('file', readKey(keyFile), others, keyFile, { pending: false, interrupted: others.length > 0 });
  }

  /** A new key for SLIPWAY_SECRET_KEY: base64 of 32 random bytes. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  /** The current key's id: the first 16 hex characters of its SHA-256. */
  get keyId(): string {
    return this.#current.id;
  }

  /** True when stored values may be sealed under a key other than the current one and need re-sealing. */
  get interruptedRotation(): boolean {
    return this.#interrupted;
  }

  /** Where the current key comes from, for logs; never the key. */
  describe(): string {
    if (this.#keyFile === null) return `${SECRET_KEY_VARIABLE} (id ${this.keyId})`;
    return `key file ${this.#pending ? nextFileOf(this.#keyFile) : this.#keyFile} (id ${this.keyId})`;
  }

  /** "v2.<keyId>.<iv>.<tag>.<ciphertext>", under the current key. */
  seal(plain: string): string {
    if (this.#retired) {
      throw new Error(`key ${this.keyId} is being rotated out: seal with the box beginRotation returned, or the value is lost when the rotation commits`);
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#current.bytes, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v2', this.keyId, ...[iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url'))].join('.');
  }

  /** Throws, without the value, when no key of the ring opens it. */
  unseal(sealed: string): string {
    const parsed = parseSealed(sealed);
    if (parsed === null) throw altered();
    const candidates = parsed.keyId === null ? this.#ring : this.#ring.filter((key) => key.id === parsed.keyId);
    if (candidates.length === 0) {
      const held = this.#ring.map((key) => key.id).join(', ');
      throw new Error(`cannot unseal a secret: it was sealed under key ${parsed.keyId}, which this server does not have (it has ${held})`);
    }
    for (const key of candidates) {
      const plain = tryOpen(key, parsed);
      if (plain !== null) return plain;
    }
    throw altered();
  }

  /** Whether `sealed` names the current key; anything else ("v1." values included) wants re-sealing. */
  isCurrent(sealed: string): boolean {
    return parseSealed(sealed)?.keyId === this.keyId;
  }

  /** Step 1 of a rotation (see the top of this file): a box sealing under a new key, reading the old ones too. */
  beginRotation(): SecretBox {
    const keyFile = this.#keyFile;
    if (keyFile === null) {
      throw new Error(
        `the secret key comes from ${SECRET_KEY_VARIABLE}, so Slipway cannot rotate it: put a new key (e.g. from \`openssl rand -base64 32\`) in ${SECRET_KEY_VARIABLE} and the old one in ${PREVIOUS_SECRET_KEY_VARIABLE}, and restart`,
      );
    }
    if (this.#pending) throw new Error(`a rotation of ${keyFile} has begun already with this box: commit it first`);
    const next = nextFileOf(keyFile);
    createKeyFile(next);
    const rotated = new SecretBox('file', readKey(next), this.#ring, keyFile, { pending: true, interrupted: false });
    this.#retired = true;
    return rotated;
  }

  /** Step 3 of a rotation, once every stored value is re-sealed: the new key replaces the old on disk. */
  commitRotation(): void {
    const keyFile = this.#keyFile;
    if (keyFile === null || !this.#pending) throw new Error('commitRotation is for the box beginRotation returned, and only once');
    const next = nextFileOf(keyFile);
    const staged = readKey(next);
    if (staged.id !== this.keyId) throw new Error(`${next} holds key ${staged.id}, not key ${this.keyId} this rotation sealed with; not committing it`);
    renameSync(next, keyFile);
    syncFolderOf(keyFile);
    this.#pending = false;
  }

  /** After an interrupted rotation, once every stored value is re-sealed: removes the stale <keyFile>.next. */
  finishInterruptedRotation(): void {
    const keyFile = this.#keyFile;
    if (this.#pending) throw new Error(`this box seals under the ${this.describe()}: commit the rotation instead of removing it`);
    const next = keyFile === null ? null : nextFileOf(keyFile);
    if (next !== null && existsSync(next)) {
      const stale = readKey(next);
      // A key this box never read may have sealed values since it was opened.
      if (!this.#ring.some((key) => key.id === stale.id)) throw new Error(`${next} holds key ${stale.id}, which this server did not open; not removing it`);
      rmSync(next);
      syncFolderOf(next);
    }
    this.#interrupted = false;
  }
}

function nextFileOf(keyFile: string): string {
  return `${keyFile}.next`;
}

/** Writes a fresh key to `path` unless a file is there already; durable before it returns. */
function createKeyFile(path: string): void {
  let fd: number;
  try {
    // 'wx': two writers at once must not each write a different key.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    writeSync(fd, SecretBox.generateKey());
    // Values sealed under this key may be committed right after: the key must outlive a power cut.
    fsyncSync(fd);
  } catch (error) {
    rmSync(path, { force: true });
    throw error;
  } finally {
    closeSync(fd);
  }
  syncFolderOf(path);
}

function syncFolderOf(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readKey(path: string): Key {
  return parseKey(readFileSync(path, 'utf8'), path);
}

/** `where` names the file or variable in the error; the text itself never appears in one. */
function parseKey(text: string, where: string): Key {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  // Node's base64 decoding skips what it does not understand; re-encoding catches that.
  if (bytes.length !== KEY_BYTES || bytes.toString('base64') !== trimmed) {
    throw new Error(`${where} is not a ${KEY_BYTES}-byte key in base64 (44 characters, e.g. from \`openssl rand -base64 32\`)`);
  }
  return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 16), bytes };
}

function parseSealed(sealed: string): Sealed | null {
  const parts = sealed.split('.');
  const [version] = parts;
  const keyId = version === 'v2' && parts.length === 5 ? parts[1]! : null;
  if (keyId === null && !(version === 'v1' && parts.length === 4)) return null;
  if (keyId !== null && !KEY_ID.test(keyId)) return null;
  const [iv, tag, body] = parts.slice(keyId === null ? 1 : 2).map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
  // A short tag would weaken GCM's check; Node accepts tags down to 4 bytes unless told.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return null;
  return { keyId, iv, tag, body };
}

function tryOpen(key: Key, sealed: Sealed): string | null {
  const decipher = createDecipheriv('aes-256-gcm', key.bytes, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.tag);
  try {
    return Buffer.concat([decipher.update(sealed.body), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

function altered(): Error {
  return new Error('cannot unseal a secret: it was altered or not sealed by Slipway');
}
