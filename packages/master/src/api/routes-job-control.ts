import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { idSchema, jobDtoSchema } from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf } from './access.ts';

/** Pausing and resuming a job; resuming a rollout held at its gate approves the next wave. */
export function registerJobControlRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const params = z.object({ jobId: idSchema });

  app.post(
    '/api/v1/jobs/:jobId/pause',
    { config: { access: 'operator' }, schema: { tags: ['jobs'], params, response: { 200: jobDtoSchema } } },
    (request) => deps.dispatcher.pauseJob(request.params.jobId, actorOf(request)),
  );

  app.post(
    '/api/v1/jobs/:jobId/resume',
    { config: { access: 'operator' }, schema: { tags: ['jobs'], params, response: { 200: jobDtoSchema } } },
    (request) => deps.dispatcher.resumeJob(request.params.jobId, actorOf(request)),
  );
}
