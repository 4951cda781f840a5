// Units a user writes in slipway.yml: durations, byte sizes, variables and secret values.

import { z } from 'zod';

/** Environment variables: strings, numbers and booleans, all given as strings. */
export const Variables = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const DURATION_EXPECTED = 'expected a duration such as 30s, 10m, 1h or 2d';

/** "90s", "10m", "1h", "2d" or a number of seconds -> milliseconds. */
export const Duration = z
  .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, DURATION_EXPECTED)], {
    error: DURATION_EXPECTED,
  })
  .transform((value) => {
    if (typeof value === 'number') return Math.round(value * 1000);
    const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value)!;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return Math.round(Number(match[1]) * unit);
  });

/**
 * A secret written into the file, or `{ env: NAME }` to read it from the server's environment
 * (so the file can be committed). A variable that is not set is a config error.
 */
export const SecretValue = z.union([z.string().min(1), z.object({ env: z.string().min(1) }).strict()]).transform((value, ctx) => {
  if (typeof value === 'string') return value;
  const fromEnv = process.env[value.env];
  if (fromEnv === undefined || fromEnv === '') {
    ctx.addIssue({ code: 'custom', message: `environment variable ${value.env} is not set` });
    return z.NEVER;
  }
  return fromEnv;
});

const BYTE_SIZE_EXPECTED = 'expected a size such as 512MiB, 2GiB, 64KiB or a number of bytes';
const BYTE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** "512MiB", "2g", "64KiB", "1.5GB" or a number of bytes -> bytes (k, m, g are binary, as Docker reads them). */
export const ByteSize = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(\.\d+)?\s*([kmg](i?b)?|b)$/i, BYTE_SIZE_EXPECTED)], { error: BYTE_SIZE_EXPECTED })
  .transform((value) => {
    if (typeof value === 'number') return value;
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(value)!;
    return Math.round(Number(match[1]) * BYTE_UNITS[match[2]!.toLowerCase()]!);
  });

