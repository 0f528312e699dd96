import type { Role, UserDto } from '@edgestelle/protocol';

export interface Principal {
  /** The user, with the role this request may use (a token's role capped by its owner's). */
  user: UserDto;
  via: 'session' | 'token';
  /** Set for cookie sessions: what the X-CSRF-Token header must carry on writes. */
  csrfToken: string | null;
  sessionHash: string | null;
}

/** A session's or token's last-seen time is written at most this often: not one database write per request. */
export const LAST_SEEN_RESOLUTION_MS = 60_000;

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAtLeast(role: Role, needed: Role): boolean {
  return rank[role] >= rank[needed];
}

export function hasRole(principal: Principal, needed: Role): boolean {
  return roleAtLeast(principal.user.role, needed);
}

export function lowerRole(a: Role, b: Role): Role {
  return roleAtLeast(b, a) ? a : b;
}
