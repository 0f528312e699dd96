import type { Role } from '@edgestelle/protocol';
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../audit/audit-log.ts';
import type { Principal } from '../auth/principal.ts';

/** Who may call a route: nobody needs credentials (`public`), anyone signed in (`any`), or a role and above. */
export type Access = 'public' | 'any' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** Set on a live-hub upgrade that must be closed at once (bad credentials or Origin). */
    liveRefusal: { code: number; reason: string } | null;
  }
}

export function requirePrincipal(principal: Principal | null): Principal {
  if (principal === null) throw new Error('route without authentication reached a handler that needs it');
  return principal;
}

/** Who is calling and from where, for the audit log. */
export function actorOf(request: FastifyRequest): Actor {
  return { name: request.principal?.user.username ?? 'anonymous', ip: request.ip };
}
