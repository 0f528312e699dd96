import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  idSchema,
  webhookCreateSchema,
  webhookCreatedSchema,
  webhookDeliveryListSchema,
  webhookListSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf } from './access.ts';

/** Webhooks, admins only: they send fleet events to outside URLs (docs/API.md "Webhooks"). */
export function registerWebhookRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ webhookId: idSchema });

  app.get(
    '/api/v1/webhooks',
    { config: { access: 'admin' }, schema: { tags: ['webhooks'], response: { 200: webhookListSchema } } },
    async () => ({ items: await deps.webhooks.list() }),
  );

  app.post(
    '/api/v1/webhooks',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], body: webhookCreateSchema, response: { 201: webhookCreatedSchema } },
    },
    async (request, reply) => reply.status(201).send(await deps.webhooks.create(request.body, actorOf(request))),
  );

  app.delete(
    '/api/v1/webhooks/:webhookId',
    { config: { access: 'admin' }, schema: { tags: ['webhooks'], params, response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.webhooks.delete(request.params.webhookId, actorOf(request));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/webhooks/:webhookId/deliveries',
    {
      config: { access: 'admin' },
      schema: { tags: ['webhooks'], params, response: { 200: webhookDeliveryListSchema } },
    },
    async (request) => ({ items: await deps.webhooks.deliveries(request.params.webhookId) }),
  );
}
