// The Builder turns a checked-out service into an image in a registry.
//
// Contract: build() builds `dockerfile` with `contextDir` as context, tags the result
// `${repository}:${tag}`, pushes it, and resolves with the registry's manifest digest for that
// tag (the digest deployments pull by). Each of `aliases` tags the same image and is pushed too
// (a git tag's name, so people find the release by it); the digest is the main tag's. Progress goes to `log`, one line per call. Any failure
// (Dockerfile error, registry down, engine gone) resolves { ok: false } with one sentence that
// names what failed; build() never throws. An aborted `signal` ends the build as a failure.

import type { Result } from '../core/types.ts';

export interface BuildRequest {
  contextDir: string;
  /** Path of the Dockerfile relative to contextDir. */
  dockerfile: string;
  /** registry/name, without tag. */
  repository: string;
  tag: string;
  /** More tags for the same image, each a valid image tag ([A-Za-z0-9_.-], up to 128). */
  aliases: string[];
  labels: Record<string, string>;
}

export interface BuiltImage {
  /** repository:tag */
  image: string;
  digest: string;
}

export type BuildLog = (line: string, stream?: 'stdout' | 'stderr') => void;

export interface Builder {
  readonly description: string;
  build(request: BuildRequest, log: BuildLog, signal: AbortSignal): Promise<Result<BuiltImage, string>>;
}
