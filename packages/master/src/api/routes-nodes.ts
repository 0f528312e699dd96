import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  apiErrorSchema,
  enrollRequestSchema,
  enrollResponseSchema,
  idSchema,
  joinTokenCreateSchema,
  joinTokenCreatedSchema,
  joinTokenDtoSchema,
  nodeDtoSchema,
  nodeIdSchema,
  nodeUpdateSchema,
  tagDtoSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import type { ApiDeps } from './api-deps.ts';
import { actorOf, requirePrincipal } from './access.ts';

const tagFilter = z
  .string()
  .regex(/^[^=]+=.*$/, 'use key=value')
  .transform((s) => {
    const at = s.indexOf('=');
    return [s.slice(0, at), s.slice(at + 1)] as const;
  });

export function registerNodeRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const nodeParams = z.object({ nodeId: nodeIdSchema });

  app.get(
    '/api/v1/nodes',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['nodes'],
        querystring: z
          .object({
            online: z.enum(['true', 'false']).optional(),
            tag: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(tagFilter)).optional(),
          })
          .strict(),
        response: { 200: z.object({ items: z.array(nodeDtoSchema) }) },
      },
    },
    async (request) => {
      const { online, tag } = request.query;
      return {
        items: await deps.nodes.list({
          ...(online === undefined ? {} : { online: online === 'true' }),
          ...(tag === undefined || tag.length === 0 ? {} : { tags: Object.fromEntries(tag) }),
        }),
      };
    },
  );

  app.get(
    '/api/v1/nodes/:nodeId',
    { config: { access: 'viewer' }, schema: { tags: ['nodes'], params: nodeParams, response: { 200: nodeDtoSchema } } },
    (request) => deps.nodes.get(request.params.nodeId),
  );

  app.patch(
    '/api/v1/nodes/:nodeId',
    {
      config: { access: 'admin' },
      schema: { tags: ['nodes'], params: nodeParams, body: nodeUpdateSchema, response: { 200: nodeDtoSchema } },
    },
    (request) => deps.nodes.update(request.params.nodeId, request.body, actorOf(request)),
  );

  app.post(
    '/api/v1/nodes/:nodeId/revoke',
    { config: { access: 'admin' }, schema: { tags: ['nodes'], params: nodeParams, response: { 200: nodeDtoSchema } } },
    (request) => deps.nodes.revoke(request.params.nodeId, actorOf(request)),
  );

  app.delete(
    '/api/v1/nodes/:nodeId',
    {
      config: { access: 'admin' },
      schema: {
        tags: ['nodes'],
        description:
          'Forgets a revoked node: its record goes, its jobs and runs stay. 409 unless it is revoked. Its id may then enroll again with any join token.',
        params: nodeParams,
        response: { 204: z.null(), 409: apiErrorSchema },
      },
    },
    async (request, reply) => {
      await deps.nodes.forget(request.params.nodeId, actorOf(request));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/tags',
    {
      config: { access: 'viewer' },
      schema: { tags: ['nodes'], response: { 200: z.object({ items: z.array(tagDtoSchema) }) } },
    },
    async () => ({ items: await deps.nodes.tags() }),
  );

  app.get(
    '/api/v1/join-tokens',
    {
      config: { access: 'admin' },
      schema: { tags: ['enrollment'], response: { 200: z.object({ items: z.array(joinTokenDtoSchema) }) } },
    },
    async () => ({ items: await deps.enrollment.listJoinTokens() }),
  );

  app.post(
    '/api/v1/join-tokens',
    {
      config: { access: 'admin' },
      schema: { tags: ['enrollment'], body: joinTokenCreateSchema, response: { 201: joinTokenCreatedSchema } },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          await deps.enrollment.createJoinToken(
            request.body,
            requirePrincipal(request.principal).user.username,
            actorOf(request),
          ),
        ),
  );

  app.delete(
    '/api/v1/join-tokens/:tokenId',
    {
      config: { access: 'admin' },
      schema: { tags: ['enrollment'], params: z.object({ tokenId: idSchema }), response: { 204: z.null() } },
    },
    async (request, reply) => {
      await deps.enrollment.revokeJoinToken(request.params.tokenId, actorOf(request));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/enroll',
    {
      config: { access: 'public' },
      schema: {
        tags: ['enrollment'],
        description:
          'A join token enrolls a node id that is not enrolled yet. An enrolled id needs a token made for it (JoinTokenCreate.nodeId) or keyProof, proof of its current key; otherwise 409 node_exists, and nothing changes.',
        body: enrollRequestSchema,
        response: { 200: enrollResponseSchema, 403: apiErrorSchema, 409: apiErrorSchema },
      },
    },
    (request) => deps.enrollment.enroll(request.body, request.hostname, request.ip),
  );
}
