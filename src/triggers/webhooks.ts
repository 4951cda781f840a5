// Receives webhook deliveries for every forge: verify, write down, answer; the trigger
// service acts on them afterwards, from the inbox.
//
// A forged request costs one HMAC (or one comparison) and nothing else: it is refused before
// anything is stored, and only counted. So a flood of them cannot crowd out the store writes
// of authentic deliveries. A delivery is answered once: a repeat of its delivery id, or of its
// body under another id (a captured delivery replayed), is answered `repeated` and starts
// nothing (the store keeps both unique per forge).

import { SlipwayError, type ErrorCode } from '../core/errors.ts';
import { assertNever, type Delivery } from '../core/types.ts';
import { FORGE_NAMES, type Forge, type ForgeEvent, type ForgeName, type RejectionReason, type WebhookHeaders } from '../forges/forge.ts';
import { bodyDigest } from '../forges/webhook.ts';
import type { NewDelivery } from '../store/store.ts';
import type { DeliveryInbox } from './inbox.ts';
import type { WebhookSecrets } from './secrets.ts';
import type { TriggerService } from './trigger.ts';

export type Reception =
  /** Stored; the trigger service acts on it next. */
  | { kind: 'accepted'; delivery: Delivery }
  /** Stored before: answered, acts on nothing. */
  | { kind: 'repeated'; deliveryId: string }
  | { kind: 'rejected'; error: SlipwayError };

/**
 * Headers that carry a secret or a proof are not kept with the delivery (the API shows what is
 * kept): tokens (X-Gitlab-Token, X-Slipway-Token), signatures (X-Hub-Signature,
 * X-Hub-Signature-256, X-Gitea-, X-Forgejo-, X-Gogs-Signature), which with the stored body
 * would let a reader replay it, credentials and cookies; by name, so a proxy's or a forge's
 * next such header is left out too.
 */
const SECRET_HEADER = /token|signature|secret|auth|cookie|credential|password|session|api-?key/i;

const REJECTION: Record<RejectionReason, ErrorCode> = {
  unknown_repository: 'REPOSITORY_NOT_FOUND',
  bad_signature: 'SIGNATURE_INVALID',
  repository_mismatch: 'WEBHOOK_REPOSITORY_MISMATCH',
  malformed: 'WEBHOOK_MALFORMED',
};

/** What a stored delivery says: an event to act on, or why it was acknowledged and ignored. */
type Parsed = { kind: 'event'; event: ForgeEvent } | { kind: 'ignored'; reason: string };

export class WebhookReceiver {
  private readonly forges: Map<string, Forge>;
  /** Refused deliveries per forge and reason; nothing else of them is kept. */
  private readonly rejections = new Map<string, number>();

  constructor(
    forges: Forge[],
    private readonly secrets: WebhookSecrets,
    private readonly inbox: DeliveryInbox,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.forges = new Map(forges.map((forge) => [forge.name, forge]));
  }

  async receive(forgeName: string, headers: WebhookHeaders, rawBody: Buffer): Promise<Reception> {
    const forge = this.forges.get(forgeName);
    if (!forge) {
      return rejected('FORGE_NOT_FOUND', `no webhook endpoint for ${forgeName}; Slipway hears from ${[...this.forges.keys()].join(', ')}`);
    }
    const result = forge.parseWebhook(headers, rawBody, (repository) => this.secrets.secretFor(forge.name, repository), this.secrets.originOf(forge.name));
    let parsed: Parsed;
    switch (result.kind) {
      case 'rejected':
        this.count(`${forge.name} ${result.reason}`);
        return rejected(REJECTION[result.reason], result.message);
      case 'ignored':
        parsed = { kind: 'ignored', reason: result.reason };
        break;
      case 'event':
        parsed = { kind: 'event', event: result.event };
        break;
      default:
        return assertNever(result, 'webhook result');
    }
    const { deliveryId, repository } = result.kind === 'event' ? result.event : result;
    const stored = await this.inbox.accept({
      forge: forge.name,
      deliveryId,
      repository: repository.fullName,
      event: parsed.kind === 'event' ? parsed.event.kind : 'ignored',
      parsed,
      headers: keptHeaders(headers),
      body: rawBody,
      bodyDigest: bodyDigest(rawBody),
      receivedAt: this.now().toISOString(),
    });
    return stored ? { kind: 'accepted', delivery: stored } : { kind: 'repeated', deliveryId };
  }

  /** Refusal counts, for the API: "github bad_signature" -> 3. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.rejections);
  }

  private count(key: string): void {
    this.rejections.set(key, (this.rejections.get(key) ?? 0) + 1);
  }
}

/** The inbox's handler: acts on a stored delivery through the trigger service. */
export function deliveryHandler(triggers: TriggerService): (delivery: Delivery) => Promise<string> {
  return async (delivery) => {
    const found = eventOf(delivery);
    return 'ignored' in found ? found.ignored : (await triggers.handle(found.event, found.forge)).summary;
  };
}

/**
 * The inbox's triage: the outcome of a delivery that starts nothing whatever its repository
 * holds (an ignored event, a branch no service builds), known before it is stored. Most of
 * what a busy forge sends is such.
 */
export function deliveryTriage(triggers: TriggerService): (delivery: NewDelivery) => string | null {
  return (delivery) => {
    const found = eventOf(delivery);
    return 'ignored' in found ? found.ignored : triggers.triage(found.event, found.forge);
  };
}

/** The event a stored delivery carries, or why it carries none to act on. */
function eventOf(delivery: Pick<Delivery, 'forge' | 'parsed'>): { event: ForgeEvent; forge: ForgeName } | { ignored: string } {
  const parsed = delivery.parsed as Parsed;
  if (parsed.kind === 'ignored') return { ignored: `ignored: ${parsed.reason}` };
  if (!isForgeName(delivery.forge)) return { ignored: `ignored: no forge ${delivery.forge}` };
  const { event } = parsed;
  // Stored by a version that did not tell forks apart: not known to be from the base repository.
  if (event.kind === 'pull_request' && typeof event.fromFork !== 'boolean') return { event: { ...event, fromFork: true }, forge: delivery.forge };
  return { event, forge: delivery.forge };
}

function isForgeName(name: string): name is ForgeName {
  return (FORGE_NAMES as readonly string[]).includes(name);
}

function rejected(code: ErrorCode, message: string): Reception {
  return { kind: 'rejected', error: new SlipwayError(code, message) };
}

function keptHeaders(headers: WebhookHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SECRET_HEADER.test(name)) continue;
    kept[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}
