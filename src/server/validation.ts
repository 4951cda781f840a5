// Reading what a request says: query parameters, path parameters and bodies, checked with zod.
// Every refusal is a BAD_REQUEST naming the field and what was wrong with it.

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
