import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  idSchema,
  jobCreateSchema,
  jobDtoSchema,
  jobHistoryPageSchema,
  jobListQuerySchema,
  outputPageSchema,
  runHistoryPageSchema,
  runListQuerySchema,
  runDtoSchema,
  seqSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import { notFound } from '../errors.ts';
import { chunkDto, isRunComplete, runDto } from '../runs/dto.ts';
import type { ApiDeps } from './api-deps.ts';
import { actorOf, requirePrincipal } from './access.ts';

export function registerJobRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const db = deps.store.db;
  const jobParams = z.object({ jobId: idSchema });
  const runParams = z.object({ runId: idSchema });

  app.post(
    '/api/v1/jobs',
    {
      config: { access: 'operator' },
      schema: { tags: ['jobs'], body: jobCreateSchema, response: { 201: jobDtoSchema } },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          await deps.dispatcher.createJob(
            request.body,
            requirePrincipal(request.principal).user.username,
            actorOf(request),
          ),
        ),
  );

  app.get(
    '/api/v1/jobs',
    {
      config: { access: 'viewer' },
      schema: { tags: ['jobs'], querystring: jobListQuerySchema, response: { 200: jobHistoryPageSchema } },
    },
    (request) => deps.history.jobs(request.query),
  );

  app.get(
    '/api/v1/runs',
    {
      config: { access: 'viewer' },
      schema: { tags: ['runs'], querystring: runListQuerySchema, response: { 200: runHistoryPageSchema } },
    },
    (request) => deps.history.runs(request.query),
  );

  app.get(
    '/api/v1/jobs/:jobId',
    { config: { access: 'viewer' }, schema: { tags: ['jobs'], params: jobParams, response: { 200: jobDtoSchema } } },
    (request) => deps.dispatcher.job(request.params.jobId),
  );

  app.get(
    '/api/v1/jobs/:jobId/runs',
    {
      config: { access: 'viewer' },
      schema: { tags: ['jobs'], params: jobParams, response: { 200: z.object({ items: z.array(runDtoSchema) }) } },
    },
    async (request) => {
      await deps.dispatcher.job(request.params.jobId);
      const rows = await db
        .selectFrom('runs')
        .selectAll()
        .where('job_id', '=', request.params.jobId)
        .orderBy('node_id')
        .execute();
      return { items: rows.map(runDto) };
    },
  );

  app.post(
    '/api/v1/jobs/:jobId/cancel',
    { config: { access: 'operator' }, schema: { tags: ['jobs'], params: jobParams, response: { 200: jobDtoSchema } } },
    (request) => deps.dispatcher.cancelJob(request.params.jobId, actorOf(request)),
  );

  app.get(
    '/api/v1/runs/:runId',
    { config: { access: 'viewer' }, schema: { tags: ['runs'], params: runParams, response: { 200: runDtoSchema } } },
    (request) => deps.dispatcher.run(request.params.runId),
  );

  app.post(
    '/api/v1/runs/:runId/cancel',
    { config: { access: 'operator' }, schema: { tags: ['runs'], params: runParams, response: { 200: runDtoSchema } } },
    (request) => deps.dispatcher.cancelRun(request.params.runId, actorOf(request)),
  );

  app.get(
    '/api/v1/runs/:runId/output',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['runs'],
        params: runParams,
        querystring: z
          .object({
            fromSeq: z.coerce.number().pipe(seqSchema).default(0),
            limit: z.coerce.number().int().min(1).max(1000).default(200),
          })
          .strict(),
        response: { 200: outputPageSchema },
      },
    },
    async (request) => {
      const run = await db.selectFrom('runs').selectAll().where('run_id', '=', request.params.runId).executeTakeFirst();
      if (run === undefined) throw notFound(`run ${request.params.runId}`);
      const { fromSeq, limit } = request.query;
      const rows = await db
        .selectFrom('run_chunks')
        .select(['run_id', 'seq', 'stream', 'data'])
        .where('run_id', '=', run.run_id)
        .where('seq', '>=', fromSeq)
        .orderBy('seq')
        .limit(limit)
        .execute();
      const chunks = [];
      let nextSeq = fromSeq;
      for (const row of rows) {
        if (row.seq !== nextSeq) break;
        chunks.push(chunkDto(row));
        nextSeq += 1;
      }
      const complete = isRunComplete(run) && nextSeq >= (run.exited_seq ?? run.next_seq);
      return { chunks, nextSeq, complete };
    },
  );

  app.get(
    '/api/v1/runs/:runId/output/raw',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['runs'],
        params: runParams,
        querystring: z.object({ stream: z.enum(['stdout', 'stderr']).optional() }).strict(),
      },
    },
    async (request, reply) => {
      const run = await db
        .selectFrom('runs')
        .select('run_id')
        .where('run_id', '=', request.params.runId)
        .executeTakeFirst();
      if (run === undefined) throw notFound(`run ${request.params.runId}`);
      const { stream } = request.query;
      const runId = run.run_id;
      // Paged so a run of any size is sent without holding it in memory.
      async function* bytes(): AsyncGenerator<Buffer> {
        let from = 0;
        for (;;) {
          let query = db
            .selectFrom('run_chunks')
            .select(['seq', 'stream', 'data'])
            .where('run_id', '=', runId)
            .where('seq', '>=', from)
            .orderBy('seq')
            .limit(500);
          if (stream !== undefined) query = query.where('stream', '=', stream);
          const rows = await query.execute();
          for (const row of rows) yield Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength);
          const last = rows.at(-1);
          if (last === undefined || rows.length < 500) return;
          from = last.seq + 1;
        }
      }
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="run-${runId}.log"`)
        .send(Readable.from(bytes()));
    },
  );
}
