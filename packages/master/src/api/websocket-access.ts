import type { Role } from '@edgestelle/protocol';
import { liveCloseCodes } from '@edgestelle/protocol';
import type { FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth-service.ts';
import { hasRole, type Principal } from '../auth/principal.ts';
import { SESSION_COOKIE } from '../auth/sessions.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import './access.ts';

/** The caller from a bearer token or the session cookie, or null. */
export async function authenticate(auth: AuthService, request: FastifyRequest): Promise<Principal | null> {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1] === undefined ? null : auth.fromApiToken(match[1]);
  }
  const cookie = request.cookies[SESSION_COOKIE];
  return cookie === undefined ? null : auth.fromSession(cookie);
}

/**
 * The `onRequest` of a WebSocket route (the live hub, shell sessions). The upgrade is accepted
 * and then closed with 4401/4403 when credentials, Origin or role are wrong: a browser cannot
 * read the HTTP status of a refused upgrade, but it can read a close code. A plain GET gets
 * the HTTP error, and a 400 invalid_request when it passes the checks.
 */
export function websocketAccess(
  deps: { auth: AuthService; allowedOrigins: () => readonly string[] },
  role: Role,
  what: string,
): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const principal = await authenticate(deps.auth, request);
    const upgrade = request.headers.upgrade?.toLowerCase() === 'websocket';
    if (principal === null) {
      if (!upgrade) throw new MasterError(MasterErrorCode.unauthenticated, 'sign in or send an API token');
      request.liveRefusal = { code: liveCloseCodes.unauthenticated, reason: 'sign in or send an API token' };
      return;
    }
    // A browser sends its cookie to any page's WebSocket: the origin must be ours.
    const origin = request.headers.origin;
    if (principal.via === 'session' && (origin === undefined || !deps.allowedOrigins().includes(origin))) {
      const reason = `origin ${origin ?? '(none)'} may not open ${what} with a session cookie`;
      if (!upgrade) throw new MasterError(MasterErrorCode.forbidden, reason);
      request.liveRefusal = { code: liveCloseCodes.forbiddenOrigin, reason: reason.slice(0, 120) };
      return;
    }
    if (!hasRole(principal, role)) {
      const reason = `${what} needs the ${role} role; you are ${principal.user.role}`;
      if (!upgrade) throw new MasterError(MasterErrorCode.forbidden, reason);
      request.liveRefusal = { code: liveCloseCodes.forbiddenOrigin, reason: reason.slice(0, 120) };
      return;
    }
    // Past the checks a plain GET would reach the WebSocket plugin's bare 404: answer it like
    // every other refusal instead.
    if (!upgrade)
      throw new MasterError(MasterErrorCode.invalidRequest, `${what} is a WebSocket: open it with Upgrade: websocket`);
    request.principal = principal;
  };
}
