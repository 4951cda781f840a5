// Preview environments: a running copy of the system for a pull request, made by a pipeline
// stage of `type: preview` (engine/stages/preview.ts, previews/previews.ts). One preview per
// service and pull request, updated by each new commit, removed when the pull request is closed
// or merged, after `ttl` without a new commit, or (the oldest first) when more than `max` exist.

import { z } from 'zod';
import { Duration } from './units.ts';

export const PREVIEW_MEMBERS = ['all', 'required'] as const;

export const PreviewSettings = z
  .object({
    /** How long a preview lives after its last update. */
    ttl: Duration.prefault('72h'),
    /** How many previews may exist at once; making one more removes the oldest. */
    max: z.number({ error: 'expected a number of previews' }).int().min(1, 'expected at least 1 preview').default(10),
    /**
     * Who runs beside the pull request's service: `all` deployable services (at their releases in
     * the first environment), or only those it `required`s, as its integration stage starts them.
     */
    services: z.enum(PREVIEW_MEMBERS, { error: `expected one of ${PREVIEW_MEMBERS.join(', ')}` }).default('all'),
  })
  .strict()
  .transform((settings) => ({ ttlMs: settings.ttl, max: settings.max, services: settings.services }));
export type PreviewSettings = z.output<typeof PreviewSettings>;
