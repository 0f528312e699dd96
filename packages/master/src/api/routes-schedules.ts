import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  cronPreviewQuerySchema,
  cronPreviewSchema,
  jobDtoSchema,
  scheduleCreateSchema,
  scheduleDetailSchema,
  scheduleListSchema,
  scheduleNameSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf } from './access.ts';

/** Schedules: viewers see them, operators change and fire them (docs/API.md "Schedules"). */
export function registerScheduleRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ name: scheduleNameSchema });

  app.get(
    '/api/v1/schedules',
    { config: { access: 'viewer' }, schema: { tags: ['schedules'], response: { 200: scheduleListSchema } } },
    async () => ({ items: await deps.schedules.list() }),
  );

  app.post(
    '/api/v1/schedules',
    {
      config: { access: 'operator' },
      schema: { tags: ['schedules'], body: scheduleCreateSchema, response: { 201: scheduleDetailSchema } },
    },
    async (request, reply) => reply.status(201).send(await deps.schedules.create(request.body, actorOf(request))),
  );

  // Registered before /:name so "preview" is never taken for a schedule's name.
  app.get(
    '/api/v1/schedules/preview',
    {
      config: { access: 'viewer' },
      schema: { tags: ['schedules'], querystring: cronPreviewQuerySchema, response: { 200: cronPreviewSchema } },
    },
    (request) => ({
      nextFireTimes: deps.schedules.preview(request.query.cron, request.query.timezone, request.query.count),
    }),
  );

  app.get(
    '/api/v1/schedules/:name',
    {
      config: { access: 'viewer' },
      schema: { tags: ['schedules'], params, response: { 200: scheduleDetailSchema } },
    },
    (request) => deps.schedules.detail(request.params.name),
  );

  app.post(
    '/api/v1/schedules/:name/pause',
    {
      config: { access: 'operator' },
      schema: { tags: ['schedules'], params, response: { 200: scheduleDetailSchema } },
    },
    (request) => deps.schedules.pause(request.params.name, actorOf(request)),
  );

  app.post(
    '/api/v1/schedules/:name/resume',
    {
      config: { access: 'operator' },
      schema: { tags: ['schedules'], params, response: { 200: scheduleDetailSchema } },
    },
    (request) => deps.schedules.resume(request.params.name, actorOf(request)),
  );

  app.post(
    '/api/v1/schedules/:name/run',
    { config: { access: 'operator' }, schema: { tags: ['schedules'], params, response: { 201: jobDtoSchema } } },
    async (request, reply) =>
      reply.status(201).send(await deps.schedules.fireNow(request.params.name, actorOf(request))),
  );

  app.delete(
    '/api/v1/schedules/:name',
    { config: { access: 'operator' }, schema: { tags: ['schedules'], params, response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.schedules.delete(request.params.name, actorOf(request));
      return reply.status(204).send(null);
    },
  );
}
