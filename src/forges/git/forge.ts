// A plain git repository, no forge at all: the post-receive hook that `slipway hook install`
// puts into a bare repository (src/cli/hook.ts) POSTs one delivery per updated ref:
//
//   X-Slipway-Token     the repository's token, as the server handed it out (compared, not a signature)
//   X-Slipway-Delivery  a random id, the same for no two deliveries (the hook does not retry)
//   { "repository": the URL or path services use for it, "ref": "refs/heads/main",
//     "before": sha, "after": sha (zeros for a creation / a deletion),
//     "commit": for a tag the commit it names (for a deleted tag, the one it named), else `after`,
//     "forced": before is not an ancestor of after, "commits": how many commits are new,
//     "pusher": who pushed }
//
// Like GitLab's token, the token proves the sender but not that the body is unmodified.

import { z } from 'zod';
import type { Forge, RepositoryRef, WebhookHeaders, WebhookResult } from '../forge.ts';
import { badSignature, bodyDigest, fromRefUpdate, header, invalid, locate, sameSecret, Sha, type Delivered } from '../webhook.ts';
import { isZeroSha } from '../../core/sha.ts';

const Named = z.object({ repository: z.string().min(1) });

const RefUpdate = z.object({
  ref: z.string().min(1),
  before: Sha,
  after: Sha,
  commit: Sha,
  forced: z.boolean(),
  commits: z.number().int().nonnegative(),
  pusher: z.string().min(1),
});

/** What the hook POSTs per ref (src/cli/hook.ts sends it). */
export type HookDelivery = z.infer<typeof Named> & z.infer<typeof RefUpdate>;

export class GitForge implements Forge {
  readonly name = 'git' as const;

  parseWebhook(headers: WebhookHeaders, rawBody: Buffer, secretFor: (repository: RepositoryRef) => string | null): WebhookResult {
    const refOf = (named: z.infer<typeof Named>): RepositoryRef => ({ fullName: named.repository, urls: [named.repository] });
    const located = locate(rawBody, Named, 'repository', refOf, secretFor, 'hook token');
    if ('rejected' in located) return located.rejected;
    const { body, repository, secret } = located;
    const token = header(headers, 'x-slipway-token');
    if (token === undefined) return badSignature('the X-Slipway-Token header is missing');
    if (!sameSecret(token, secret)) return badSignature(`X-Slipway-Token is not the hook token for ${repository.fullName}`);

    const parsed = RefUpdate.safeParse(body);
    if (!parsed.success) return invalid('ref update', parsed.error);
    const delivered = { deliveryId: header(headers, 'x-slipway-delivery') ?? bodyDigest(rawBody), repository };
    return fromUpdate(parsed.data, delivered);
  }
}

function fromUpdate(update: z.infer<typeof RefUpdate>, delivered: Delivered): WebhookResult {
  const deleted = isZeroSha(update.after);
  // A hook that could not peel a deleted tag sends zeros; `before` is then the best name left.
  const tagCommit = deleted && isZeroSha(update.commit) ? update.before : update.commit;
  const { ref, before, after, forced } = update;
  const commitCount = deleted ? 0 : update.commits;
  return fromRefUpdate(delivered, { ref, before, after, deleted, forced, commitCount, tagCommit, sender: update.pusher }, 'update of');
}
