// Tables and row mappings of what comes in and who may act: webhook deliveries, webhook
// secrets, trigger cursors, users and their API tokens.

import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { ApiToken, Delivery, DeliveryStatus, Role, User } from '../../core/types.ts';
import type { DeliveryPatch, NewDelivery } from '../store.ts';

export interface DeliveryTable {
  id: Generated<number>;
  forge: string;
  delivery_id: string;
  repository: string;
  event: string;
  /** JSON. */
  parsed: string;
  /** JSON object. */
  headers: string;
  body: Buffer;
  body_digest: string;
  status: DeliveryStatus;
  outcome: string | null;
  received_at: string;
  processed_at: string | null;
}

export interface WebhookSecretTable {
  forge: string;
  repository: string;
  sealed: string;
}

export interface CursorTable {
  key: string;
  value: string;
}

export interface UserTable {
  id: Generated<number>;
  name: string;
  role: Role;
  password_hash: string | null;
  email: string | null;
  created_at: string;
}

export interface ApiTokenTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
}

export type DeliveryRow = Selectable<DeliveryTable>;
export type UserRow = Selectable<UserTable>;
export type ApiTokenRow = Selectable<ApiTokenTable>;

export function deliveryToRow(delivery: NewDelivery): Insertable<DeliveryTable> {
  return {
    forge: delivery.forge,
    delivery_id: delivery.deliveryId,
    repository: delivery.repository,
    event: delivery.event,
    parsed: JSON.stringify(delivery.parsed ?? null),
    headers: JSON.stringify(delivery.headers),
    body: delivery.body,
    body_digest: delivery.bodyDigest,
    status: delivery.outcome === undefined ? 'received' : 'processed',
    outcome: delivery.outcome ?? null,
    received_at: delivery.receivedAt,
    processed_at: delivery.outcome === undefined ? null : delivery.receivedAt,
  };
}

export function deliveryPatchToRow(patch: DeliveryPatch): Updateable<DeliveryTable> {
  return { status: patch.status, outcome: patch.outcome, processed_at: patch.processedAt };
}

export function rowToDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    forge: row.forge,
    deliveryId: row.delivery_id,
    repository: row.repository,
    event: row.event,
    parsed: JSON.parse(row.parsed) as unknown,
    headers: JSON.parse(row.headers) as Record<string, string>,
    body: Buffer.from(row.body),
    bodyDigest: row.body_digest,
    status: row.status,
    outcome: row.outcome,
    receivedAt: row.received_at,
    processedAt: row.processed_at,
  };
}

/** The password hash stays in the store; a User only says whether there is one. */
export function rowToUser(row: UserRow): User {
  return { id: row.id, name: row.name, role: row.role, hasPassword: row.password_hash !== null, email: row.email, createdAt: row.created_at };
}

export function rowToApiToken(row: ApiTokenRow): ApiToken {
  return { id: row.id, userId: row.user_id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}
