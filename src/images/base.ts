// Base images built locally through the Engine API, for machines that cannot pull from a
// public registry: a busybox image from Debian's busybox-static (tests, the demo's services)
// and a Node.js toolchain image made from this host's own node binary and the libraries it
// links (the demo's lint/test stages). Building is idempotent: an existing tag is kept.

import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import tar from 'tar-fs';
import { followProgress } from '../docker/connect.ts';

const execFileAsync = promisify(execFile);

export const BUSYBOX_IMAGE = 'localhost/slipway/busybox:latest';
export const NODE_IMAGE = `localhost/slipway/node:${process.versions.node.split('.')[0]}`;

const BUSYBOX_APPLETS = ['sh', 'ls', 'cat', 'echo', 'sleep', 'httpd', 'true', 'false', 'env', 'wget', 'grep', 'sed', 'test', 'mkdir', 'rm', 'cp', 'mv', 'printf', 'date', 'id', 'tr', 'wc', 'head', 'tail', 'find', 'xargs', 'chmod', 'kill', 'ps', 'nc', 'uname'];

async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch {
    return false;
  }
}

async function buildFromRootfs(docker: Docker, name: string, fill: (rootfs: string) => Promise<void> | void, cmd: string[]): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), 'slipway-base-'));
  try {
    const rootfs = join(context, 'rootfs');
    mkdirSync(join(rootfs, 'tmp'), { recursive: true });
    await fill(rootfs);
    writeFileSync(join(context, 'Dockerfile'), `FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD ${JSON.stringify(cmd)}\n`);
    // tar-fs streams are streamx streams; dockerode only reads them.
    const stream = await docker.buildImage(tar.pack(context) as unknown as NodeJS.ReadableStream, { t: name });
    await followProgress(docker, stream);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

function findBusybox(): string {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox']) if (existsSync(candidate)) return candidate;
  throw new Error('busybox is not installed (Debian: apt-get install busybox-static)');
}

function addBusybox(rootfs: string): void {
  const bin = join(rootfs, 'bin');
  mkdirSync(bin, { recursive: true });
  cpSync(findBusybox(), join(bin, 'busybox'));
  for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(bin, applet));
  // Scripts start with #!/usr/bin/env.
  mkdirSync(join(rootfs, 'usr/bin'), { recursive: true });
  symlinkSync('/bin/busybox', join(rootfs, 'usr/bin/env'));
}

/** A busybox image: sh, httpd, wget and friends. */
export async function ensureBusyboxImage(docker: Docker): Promise<string> {
  if (!(await imageExists(docker, BUSYBOX_IMAGE))) await buildFromRootfs(docker, BUSYBOX_IMAGE, addBusybox, ['sh']);
  return BUSYBOX_IMAGE;
}

/** A Node.js image built from this host's node binary, its shared libraries, npm and busybox. */
export async function ensureNodeImage(docker: Docker): Promise<string> {
  if (await imageExists(docker, NODE_IMAGE)) return NODE_IMAGE;
  await buildFromRootfs(
    docker,
    NODE_IMAGE,
    async (rootfs) => {
      addBusybox(rootfs);
      const node = realpathSync(process.execPath);
      const { stdout } = await execFileAsync('ldd', [node]);
      const libraries = [...stdout.matchAll(/(\/\S+)/g)].map((match) => match[1]!);
      for (const library of libraries) copyInto(rootfs, library);
      copyInto(rootfs, node, '/usr/local/bin/node');
      const npmRoot = join(dirname(dirname(node)), 'lib', 'node_modules', 'npm');
      if (existsSync(npmRoot)) {
        cpSync(npmRoot, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
        symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
      }
      copyInto(rootfs, '/etc/ssl/certs/ca-certificates.crt');
    },
    ['node'],
  );
  return NODE_IMAGE;
}

function copyInto(rootfs: string, source: string, target = source): void {
  if (!existsSync(source)) return;
  const destination = join(rootfs, target);
  mkdirSync(dirname(destination), { recursive: true });
  cpSync(realpathSync(source), destination);
}
