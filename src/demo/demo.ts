// The demo a new user meets on `slipway up` without a configuration: examples/demo copied
// into the data folder, each sample service committed into its own git repository, and the
// base images its services use built locally (nothing can be pulled on an offline machine).

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { ensureBusyboxImage, ensureNodeImage } from '../images/base.ts';

const EXAMPLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../examples/demo');
const NODE_MAJOR = process.versions.node.split('.')[0]!;

export interface Demo {
  configFile: string;
  /** True when this call wrote the demo (first start): the caller runs each service once. */
  created: boolean;
  services: string[];
}

function git(args: string[], cwd: string): void {
  execFileSync('git', args, {
    cwd,
    stdio: 'ignore',
    env: { ...process.env, GIT_AUTHOR_NAME: 'Slipway demo', GIT_AUTHOR_EMAIL: 'demo@slipway.invalid', GIT_COMMITTER_NAME: 'Slipway demo', GIT_COMMITTER_EMAIL: 'demo@slipway.invalid' },
  });
}

function withNodeMajor(text: string): string {
  return text.replaceAll('NODE_MAJOR', NODE_MAJOR);
}

export function prepareDemo(dataDir: string): Demo {
  const demoDir = join(dataDir, 'demo');
  const configFile = join(demoDir, 'slipway.yml');
  const services = readdirSync(join(EXAMPLE_DIR, 'services'));
  if (existsSync(configFile)) return { configFile, created: false, services };
  mkdirSync(join(demoDir, 'repos'), { recursive: true });
  for (const service of services) {
    const bare = join(demoDir, 'repos', `${service}.git`);
    rmSync(bare, { recursive: true, force: true });
    git(['init', '--quiet', '--bare', '--initial-branch=main', bare], demoDir);
    const work = mkdtempSync(join(tmpdir(), `slipway-demo-${service}-`));
    try {
      cpSync(join(EXAMPLE_DIR, 'services', service), work, { recursive: true });
      const dockerfile = join(work, 'Dockerfile');
      writeFileSync(dockerfile, withNodeMajor(readFileSync(dockerfile, 'utf8')));
      git(['init', '--quiet', '--initial-branch=main'], work);
      git(['add', '.'], work);
      git(['commit', '--quiet', '-m', `Initial version of ${service}`], work);
      git(['push', '--quiet', bare, 'main'], work);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  writeFileSync(configFile, withNodeMajor(readFileSync(join(EXAMPLE_DIR, 'slipway.yml'), 'utf8')));
  return { configFile, created: true, services };
}

/** Builds the images the demo's toolchains and Dockerfiles start from. */
export async function prepareDemoImages(docker: Docker): Promise<void> {
  await ensureBusyboxImage(docker);
  await ensureNodeImage(docker);
}
