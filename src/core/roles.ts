// Roles are ranked: each may do all that the ones before it may (see Role in types.ts).

import { ROLES, type Role } from './types.ts';

/** Whether `role` may do what `needed` may. */
export function allows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
