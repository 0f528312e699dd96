import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  apiErrorSchema,
  apiTokenCreateSchema,
  apiTokenCreatedSchema,
  apiTokenDtoSchema,
  idSchema,
  loginRequestSchema,
  sessionDtoSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import { SESSION_COOKIE, SESSION_TTL_MS } from '../auth/auth-service.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import type { ApiDeps } from './app.ts';
import { requirePrincipal } from './access.ts';

export function registerAuthRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/api/v1/auth/login',
    {
      config: { access: 'public' },
      schema: { tags: ['auth'], body: loginRequestSchema, response: { 200: sessionDtoSchema, 401: apiErrorSchema } },
    },
    async (request, reply) => {
      const result = await deps.auth.login(request.body.username, request.body.password);
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
      await deps.auth.logout(requirePrincipal(request.principal));
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

  app.get(
    '/api/v1/tokens',
    {
      config: { access: 'any' },
      schema: { tags: ['auth'], response: { 200: z.object({ items: z.array(apiTokenDtoSchema) }) } },
    },
    async (request) => ({ items: await deps.auth.listApiTokens(requirePrincipal(request.principal).user.userId) }),
  );

  app.post(
    '/api/v1/tokens',
    {
      config: { access: 'any' },
      schema: { tags: ['auth'], body: apiTokenCreateSchema, response: { 201: apiTokenCreatedSchema } },
    },
    async (request, reply) => {
      const principal = requirePrincipal(request.principal);
      const created = await deps.auth.createApiToken(principal.user.userId, request.body.name, request.body.ttlSec);
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
      await deps.auth.revokeApiToken(requirePrincipal(request.principal), request.params.tokenId);
      return reply.status(204).send(null);
    },
  );
}
