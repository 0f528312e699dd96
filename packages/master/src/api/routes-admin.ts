import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  auditPageSchema,
  auditQuerySchema,
  retentionResultSchema,
  searchPageSchema,
  searchQuerySchema,
  storeStatsSchema,
} from '@edgestelle/protocol';
import type { ApiDeps } from './api-deps.ts';
import { actorOf } from './access.ts';

/** Log search (viewers), the audit log, store size and retention (admins), and Prometheus metrics. */
export function registerAdminRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/api/v1/search',
    {
      config: { access: 'viewer' },
      schema: { tags: ['search'], querystring: searchQuerySchema, response: { 200: searchPageSchema } },
    },
    (request) => deps.search.search(request.query),
  );

  app.get(
    '/api/v1/audit',
    {
      config: { access: 'admin' },
      schema: { tags: ['admin'], querystring: auditQuerySchema, response: { 200: auditPageSchema } },
    },
    (request) => deps.audit.list(request.query),
  );

  app.get(
    '/api/v1/admin/store',
    { config: { access: 'admin' }, schema: { tags: ['admin'], response: { 200: storeStatsSchema } } },
    () => deps.retention.stats(),
  );

  app.post(
    '/api/v1/admin/retention/run',
    { config: { access: 'admin' }, schema: { tags: ['admin'], response: { 200: retentionResultSchema } } },
    (request) => deps.retention.run(actorOf(request), true),
  );

  // Any signed-in role: a viewer token made for the scraper is enough, and all it shows is numbers.
  app.get(
    '/metrics',
    {
      config: { access: 'viewer' },
      schema: { tags: ['admin'], summary: 'Prometheus metrics (text exposition format)' },
    },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()),
  );
}
