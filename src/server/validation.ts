// Reading what a request says: query parameters, path parameters and bodies, checked with zod.
// Every refusal is a BAD_REQUEST naming the field and what was wrong with it.

import type { Context } from 'hono';
import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';

export const Id = z.coerce.number().int().positive();

/** The value, or BAD_REQUEST "<what>.<path>: <what zod expected>". */
export function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length ? `${what}.${issue.path.join('.')}` : what;
  throw new SlipwayError('BAD_REQUEST', `${where}: ${issue.message}`);
}

export const Limit = z.coerce.number().int().min(1).max(1000).optional();

/** A JSON body that may be left out: an empty one reads as {}. */
export async function readOptionalJson(c: Context): Promise<unknown> {
  return (await c.req.text()).trim() === '' ? {} : readJson(c);
}

export async function readJson(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new SlipwayError('BAD_REQUEST', 'the request body is not valid JSON');
  }
}
