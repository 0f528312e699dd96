import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  idSchema,
  passwordResetSchema,
  userAccountDtoSchema,
  userCreateSchema,
  userUpdateSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf, requirePrincipal } from './access.ts';

/** User management: admins only. A user's own password change is `POST /api/v1/auth/password`. */
export function registerUserRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const userParams = z.object({ userId: idSchema });

  app.get(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: { tags: ['users'], response: { 200: z.object({ items: z.array(userAccountDtoSchema) }) } },
    },
    async () => ({ items: await deps.auth.listUsers() }),
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: 'admin' },
      schema: { tags: ['users'], body: userCreateSchema, response: { 201: userAccountDtoSchema } },
    },
    async (request, reply) => {
      const { username, password, role } = request.body;
      return reply.status(201).send(await deps.auth.createUser(username, password, role, actorOf(request)));
    },
  );

  app.get(
    '/api/v1/users/:userId',
    {
      config: { access: 'admin' },
      schema: { tags: ['users'], params: userParams, response: { 200: userAccountDtoSchema } },
    },
    (request) => deps.auth.getUser(request.params.userId),
  );

  app.patch(
    '/api/v1/users/:userId',
    {
      config: { access: 'admin' },
      schema: { tags: ['users'], params: userParams, body: userUpdateSchema, response: { 200: userAccountDtoSchema } },
    },
    (request) => deps.auth.updateUser(request.params.userId, request.body, actorOf(request)),
  );

  app.delete(
    '/api/v1/users/:userId',
    { config: { access: 'admin' }, schema: { tags: ['users'], params: userParams, response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.auth.deleteUser(request.params.userId, actorOf(request), requirePrincipal(request.principal).user);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/users/:userId/password',
    {
      config: { access: 'admin' },
      schema: { tags: ['users'], params: userParams, body: passwordResetSchema, response: { 204: z.null() } },
    },
    async (request, reply) => {
      await deps.auth.resetPassword(request.params.userId, request.body.password, actorOf(request));
      return reply.status(204).send(null);
    },
  );
}
