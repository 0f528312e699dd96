import type { Role } from '@edgestelle/protocol';
import type { Principal } from '../auth/auth-service.ts';

/** Who may call a route: nobody needs credentials (`public`), anyone signed in (`any`), or a role and above. */
export type Access = 'public' | 'any' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function requirePrincipal(principal: Principal | null): Principal {
  if (principal === null) throw new Error('route without authentication reached a handler that needs it');
  return principal;
}
