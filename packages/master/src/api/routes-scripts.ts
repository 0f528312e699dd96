import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  pageSchema,
  scriptDtoSchema,
  scriptListQuerySchema,
  scriptNameSchema,
  scriptSaveSchema,
  scriptSummaryDtoSchema,
  scriptVersionDtoSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf } from './access.ts';

export function registerScriptRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const nameParams = z.object({ name: scriptNameSchema });

  app.get(
    '/api/v1/scripts',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['scripts'],
        querystring: scriptListQuerySchema,
        response: { 200: pageSchema(scriptSummaryDtoSchema) },
      },
    },
    (request) => deps.scripts.list(request.query),
  );

  app.get(
    '/api/v1/scripts/:name',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['scripts'],
        params: nameParams,
        querystring: z.object({ version: z.coerce.number().int().min(1).optional() }).strict(),
        response: { 200: scriptDtoSchema },
      },
    },
    (request) => deps.scripts.get(request.params.name, request.query.version),
  );

  app.put(
    '/api/v1/scripts/:name',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['scripts'],
        params: nameParams,
        body: scriptSaveSchema,
        response: { 200: scriptDtoSchema, 201: scriptDtoSchema },
      },
    },
    async (request, reply) => {
      const { script, created } = await deps.scripts.save(request.params.name, request.body, actorOf(request));
      return reply.status(created ? 201 : 200).send(script);
    },
  );

  app.get(
    '/api/v1/scripts/:name/versions',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['scripts'],
        params: nameParams,
        response: { 200: z.object({ items: z.array(scriptVersionDtoSchema) }) },
      },
    },
    async (request) => ({ items: await deps.scripts.versions(request.params.name) }),
  );
}
