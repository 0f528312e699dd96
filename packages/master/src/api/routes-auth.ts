import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  apiErrorSchema,
  apiTokenCreateSchema,
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  idSchema,
  loginRequestSchema,
  passwordChangeSchema,
  sessionDtoSchema,
  sessionInfoDtoSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import { hasRole } from '../auth/principal.ts';
import { SESSION_COOKIE, SESSION_TTL_MS } from '../auth/sessions.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import type { ApiDeps } from './api-deps.ts';
import { actorOf, requirePrincipal } from './access.ts';

/** `all=true`: everyone's (admins only). */
const allQuery = z.object({ all: z.enum(['true', 'false']).default('false') }).strict();

export function registerAuthRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/api/v1/auth/login',
    {
      config: { access: 'public' },
      schema: {
        tags: ['auth'],
        body: loginRequestSchema,
        response: { 200: sessionDtoSchema, 401: apiErrorSchema, 429: apiErrorSchema },
      },
    },
    async (request, reply) => {
      const result = await deps.auth.login(request.body.username, request.body.password, {
        ip: request.ip,
        userAgent: request.headers['user-agent'] ?? null,
      });
      if (result === null) {
        request.log.info({ username: request.body.username.slice(0, 128), ip: request.ip }, 'failed login');
        throw new MasterError(MasterErrorCode.unauthenticated, 'wrong username or password');
      }
      void reply.setCookie(SESSION_COOKIE, result.sessionToken, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.secureCookies || request.protocol === 'https',
        path: '/',
        maxAge: Math.floor(SESSION_TTL_MS / 1000),
      });
      const { principal } = result;
      return { user: principal.user, via: principal.via, csrfToken: principal.csrfToken };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { config: { access: 'any' }, schema: { tags: ['auth'], response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.auth.logout(requirePrincipal(request.principal), actorOf(request));
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/me',
    { config: { access: 'any' }, schema: { tags: ['auth'], response: { 200: sessionDtoSchema } } },
    (request) => {
      const principal = requirePrincipal(request.principal);
      return { user: principal.user, via: principal.via, csrfToken: principal.csrfToken };
    },
  );

  app.post(
    '/api/v1/auth/password',
    { config: { access: 'any' }, schema: { tags: ['auth'], body: passwordChangeSchema, response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.auth.changePassword(
        requirePrincipal(request.principal),
        request.body.currentPassword,
        request.body.newPassword,
        actorOf(request),
      );
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/sessions',
    {
      config: { access: 'any' },
      schema: {
        tags: ['auth'],
        querystring: allQuery,
        response: { 200: z.object({ items: z.array(sessionInfoDtoSchema) }) },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request.principal);
      return { items: await deps.auth.listSessions(principal, wantsAll(principal, request.query.all)) };
    },
  );

  app.delete(
    '/api/v1/sessions/:sessionId',
    {
      config: { access: 'any' },
      schema: { tags: ['auth'], params: z.object({ sessionId: idSchema }), response: { 204: z.null() } },
    },
    async (request, reply) => {
      await deps.auth.revokeSession(requirePrincipal(request.principal), request.params.sessionId, actorOf(request));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      config: { access: 'any' },
      schema: {
        tags: ['auth'],
        querystring: allQuery,
        response: { 200: z.object({ items: z.array(apiTokenDtoSchema) }) },
      },
    },
    async (request) => {
      const principal = requirePrincipal(request.principal);
      const all = wantsAll(principal, request.query.all);
      return { items: await deps.auth.listApiTokens(all ? undefined : principal.user.userId) };
    },
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: 'any' },
      schema: { tags: ['auth'], body: apiTokenCreateSchema, response: { 201: apiTokenCreatedSchema } },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request.principal);
      // A token used to make a token cannot pass on more than it has itself.
      const ceiling = request.body.role ?? principal.user.role;
      if (!hasRole(principal, ceiling)) {
        throw new MasterError(
          MasterErrorCode.forbidden,
          `a token cannot have more than your role (${principal.user.role})`,
          {
            field: 'role',
          },
        );
      }
      const created = await deps.auth.createApiToken(principal.user.userId, request.body.name, request.body.ttlSec, {
        role: ceiling,
        actor: actorOf(request),
      });
      return reply.status(201).send(created);
    },
  );

  app.delete(
    '/api/v1/tokens/:tokenId',
    {
      config: { access: 'any' },
      schema: { tags: ['auth'], params: z.object({ tokenId: idSchema }), response: { 204: z.null() } },
    },
    async (request, reply) => {
      await deps.auth.revokeApiToken(requirePrincipal(request.principal), request.params.tokenId, actorOf(request));
      return reply.status(204).send(null);
    },
  );
}

function wantsAll(principal: Parameters<typeof hasRole>[0], all: 'true' | 'false'): boolean {
  if (all === 'false') return false;
  if (!hasRole(principal, 'admin')) {
    throw new MasterError(MasterErrorCode.forbidden, "only admins may list everyone's (all=true)", { field: 'all' });
  }
  return true;
}
