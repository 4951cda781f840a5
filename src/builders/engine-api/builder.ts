// Builds and pushes through the Docker Engine API, so Docker and Podman serve alike. The digest
// comes from the registry itself: that is the digest a later pull by digest resolves.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import tar from 'tar-fs';
import { err, ok, type Result } from '../../core/types.ts';
import { isEngineUnreachable, STORAGE_RACE } from '../../docker/api.ts';
import { followProgress, type ContainerEngine, type ProgressEvent } from '../../docker/connect.ts';
import type { StepLine } from '../../executors/executor.ts';
import { LineSplitter } from '../../executors/lines.ts';
import type { BuildLog, BuildRequest, Builder, BuiltImage } from '../builder.ts';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const REGISTRY_TIMEOUT_MS = 10_000;

/** A failure whose message is already the one sentence build() resolves with. */
class BuildFailure extends Error {}

export class EngineApiBuilder implements Builder {
  readonly description: string;

  constructor(private readonly engine: ContainerEngine) {
    this.description = `image builder on ${engine.name} (${engine.endpoint})`;
  }

  async build(request: BuildRequest, log: BuildLog, signal: AbortSignal): Promise<Result<BuiltImage, string>> {
    try {
      if (signal.aborted) return err('build cancelled');
      const image = `${request.repository}:${request.tag}`;
      try {
        await this.buildImage(request, image, log, signal);
      } catch (error) {
        // A build's cache lookup can lose such a race too; the same build again succeeds.
        if (!(error instanceof BuildFailure) || !STORAGE_RACE.test(error.message)) throw error;
        log('the engine lost track of a cached layer while another image was being removed; building again');
        await this.buildImage(request, image, log, signal);
      }
      const pushDigest = await this.push(request.repository, request.tag, log, signal);
      const digest = await this.manifestDigest(request, pushDigest, log, signal);
      log(`pushed ${image} as ${digest}`);
      for (const alias of request.aliases) {
        await this.engine.docker.getImage(image).tag({ repo: request.repository, tag: alias });
        await this.push(request.repository, alias, log, signal);
      }
      return ok({ image, digest });
    } catch (error) {
      if (signal.aborted) return err('build cancelled');
      if (error instanceof BuildFailure) return err(error.message);
      return err(this.describeUnexpected(error));
    }
  }

  private async buildImage(request: BuildRequest, image: string, log: BuildLog, signal: AbortSignal): Promise<void> {
    const contextDir = resolve(request.contextDir);
    if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
      throw new BuildFailure(`build context ${request.contextDir} is not a directory`);
    }
    const dockerfilePath = resolve(contextDir, request.dockerfile);
    const relativeDockerfile = relative(contextDir, dockerfilePath);
    if (relativeDockerfile.startsWith('..') || isAbsolute(relativeDockerfile)) {
      throw new BuildFailure(`Dockerfile ${request.dockerfile} lies outside the build context ${request.contextDir}`);
    }
    if (!existsSync(dockerfilePath) || !statSync(dockerfilePath).isFile()) {
      throw new BuildFailure(`Dockerfile ${request.dockerfile} not found in build context ${request.contextDir}`);
    }

    log(`building ${image} from ${request.dockerfile}`);
    const ignored = dockerignoreFilter(contextDir, relativeDockerfile.split(sep).join('/'));
    // tar-fs streams are streamx streams; dockerode only reads them.
    const context = tar.pack(contextDir, { ignore: ignored }) as unknown as NodeJS.ReadableStream;
    const lines = lineSplitter(log);
    try {
      const output = await this.engine.docker.buildImage(context, {
        t: image,
        dockerfile: relativeDockerfile.split(sep).join('/'),
        labels: request.labels,
        // Podman keeps the intermediate build container of a failed or cancelled build unless asked.
        forcerm: true,
        abortSignal: signal,
      });
      await followProgress(this.engine.docker, output, (event) => {
        if (event.stream) lines.write(event.stream);
        else if (event.status) lines.write(`${event.status}\n`);
        else if (event.error) lines.write(`${event.error}\n`, 'stderr');
      });
    } catch (error) {
      if (signal.aborted || isEngineUnreachable(error)) throw error;
      throw new BuildFailure(`image build failed: ${engineMessage(error)}`);
    } finally {
      lines.flush();
    }
  }

  /** Resolves with the digest the push stream reported, when it reported one. */
  private async push(repository: string, tag: string, log: BuildLog, signal: AbortSignal): Promise<string | null> {
    const { host } = splitRepository(repository);
    log(`pushing ${repository}:${tag}`);
    let digest: string | null = null;
    try {
      // Podman answers "tag does not exist" when the tag is part of the name as well.
      const output = await this.engine.docker.getImage(repository).push({ tag, abortSignal: signal });
      await followProgress(this.engine.docker, output, (event: ProgressEvent) => {
        digest ??= event.aux?.Digest ?? /digest: (sha256:[0-9a-f]{64})/.exec(event.status ?? '')?.[1] ?? null;
        if (event.status && !event.progress) log(event.status);
      });
    } catch (error) {
      if (signal.aborted || isEngineUnreachable(error)) throw error;
      throw new BuildFailure(`push to ${host} failed: ${describePushError(engineMessage(error))}`);
    }
    return digest;
  }

  private async manifestDigest(request: BuildRequest, pushDigest: string | null, log: BuildLog, signal: AbortSignal): Promise<string> {
    const { host, name } = splitRepository(request.repository);
    const scheme = speaksPlainHttp(host) ? 'http' : 'https';
    const url = `${scheme}://${host}/v2/${name}/manifests/${encodeURIComponent(request.tag)}`;
    let problem: string;
    try {
      const response = await fetch(url, {
        method: 'HEAD',
        headers: { Accept: MANIFEST_TYPES },
        signal: AbortSignal.any([signal, AbortSignal.timeout(REGISTRY_TIMEOUT_MS)]),
      });
      const digest = response.headers.get('docker-content-digest');
      if (response.ok && digest) return digest;
      problem = response.ok ? 'no Docker-Content-Digest header' : `HTTP ${response.status}`;
    } catch (error) {
      if (signal.aborted) throw error;
      problem = errorText(error);
    }
    if (pushDigest) {
      log(`registry did not report the manifest digest (HEAD ${url}: ${problem}); using the digest the push reported`);
      return pushDigest;
    }
    throw new BuildFailure(`push to ${host} finished, but the registry did not report the manifest digest (HEAD ${url}: ${problem})`);
  }

  private describeUnexpected(error: unknown): string {
    if (isEngineUnreachable(error)) return `the container engine at ${this.engine.endpoint} could not be reached (${errorText(error)})`;
    return `build failed: ${errorText(error)}`;
  }
}

/** Splits registry/name into the registry host and the repository name the registry API uses. */
function splitRepository(repository: string): { host: string; name: string } {
  const slash = repository.indexOf('/');
  const first = slash < 0 ? '' : repository.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return { host: first, name: repository.slice(slash + 1) };
  return { host: 'registry-1.docker.io', name: slash < 0 ? `library/${repository}` : repository };
}

/** Registries on this machine are the ones run without TLS (see scripts/setup-host.sh). */
function speaksPlainHttp(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
}

/** Podman wraps the cause in a chain of "doing x: doing y: cause"; the dial error is the useful part. */
function describePushError(message: string): string {
  const dial = /dial tcp(?: [^ ]+)?: (?:connect: )?(.+)$/.exec(message);
  if (dial) return `the registry could not be reached (${dial[1]})`;
  if (/server gave HTTP response to HTTPS client/.test(message)) {
    return 'the registry speaks plain HTTP but the engine does not list it as insecure (registries.conf or daemon.json)';
  }
  if (/no such host|i\/o timeout|network is unreachable|connection reset/.test(message)) {
    return `the registry could not be reached (${message})`;
  }
  return message;
}

/** The engine's message, first line only and without the Go structure dumps Podman appends. */
function engineMessage(error: unknown): string {
  const firstLine = errorText(error).split('\n')[0] ?? '';
  return firstLine.replace(/\s*&[\w.]+\{.*$/, '').trim() || 'the engine gave no reason';
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error && error.message === 'fetch failed' ? cause.message : error.message;
  }
  return String(error);
}

/**
 * Build output arrives in arbitrary chunks; the log wants whole lines, blank ones left out. A
 * Dockerfile's RUN is a step like any other: a line it prints without end is cut at the limit,
 * as a command stage's is (executors/lines.ts).
 */
function lineSplitter(log: BuildLog): { write(text: string, stream?: 'stdout' | 'stderr'): void; flush(): void } {
  const emit = (line: StepLine) => {
    if (line.text.trim()) log(line.text.trimEnd(), line.stream);
  };
  const splitters = { stdout: new LineSplitter('stdout', emit), stderr: new LineSplitter('stderr', emit) };
  return {
    write(text, stream = 'stdout') {
      splitters[stream].push(Buffer.from(text));
    },
    flush() {
      splitters.stdout.end();
      splitters.stderr.end();
    },
  };
}

interface IgnoreRule {
  pattern: RegExp;
  exception: boolean;
}

/**
 * A tar-fs ignore function for the context's .dockerignore: `*`, `?`, `**` and `!exceptions`,
 * last match wins, a matched directory takes its contents along. As Docker does, the Dockerfile
 * and .dockerignore are always sent.
 */
function dockerignoreFilter(contextDir: string, dockerfile: string): (name: string) => boolean {
  const file = join(contextDir, '.dockerignore');
  if (!existsSync(file)) return () => false;
  const rules: IgnoreRule[] = [];
  for (const raw of readFileSync(file, 'utf8').split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const exception = line.startsWith('!');
    if (exception) line = line.slice(1).trim();
    const cleaned = line.replace(/^(\.?\/)+/, '').replace(/\/+$/, '');
    if (cleaned) rules.push({ pattern: globToRegExp(cleaned), exception });
  }
  const hasExceptions = rules.some((rule) => rule.exception);
  return (name) => {
    const path = relative(contextDir, name).split(sep).join('/');
    if (path === dockerfile || path === '.dockerignore' || dockerfile.startsWith(`${path}/`)) return false;
    const ancestry = path.split('/').map((_, index, segments) => segments.slice(0, index + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (ancestry.some((prefix) => rule.pattern.test(prefix))) ignored = !rule.exception;
    }
    // An excluded directory must still be walked when an exception may re-include something in it.
    if (ignored && hasExceptions && statSync(name).isDirectory()) return false;
    return ignored;
  };
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index]!;
    if (char === '*' && glob[index + 1] === '*') {
      const followedBySlash = glob[index + 2] === '/';
      source += followedBySlash ? '(?:.*/)?' : '.*';
      index += followedBySlash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
