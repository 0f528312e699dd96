import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  describeIssues,
  idSchema,
  nodeIdSchema,
  shellCloseCodes,
  shellQuerySchema,
  shellSessionListQuerySchema,
  shellSessionListSchema,
} from '@edgestelle/protocol';
import { z } from 'zod';
import { actorOf } from './access.ts';
import type { ApiDeps } from './api-deps.ts';
import { websocketAccess } from './websocket-access.ts';

const shellRequestSchema = z.object({ params: z.object({ nodeId: nodeIdSchema }), query: shellQuerySchema });

/** Shell sessions: the WebSocket that is one, their list, and their recordings. */
export function registerShellRoutes(base: FastifyInstance, deps: ApiDeps): void {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/api/v1/nodes/:nodeId/shell',
    {
      websocket: true,
      config: { access: 'public' },
      schema: { summary: 'An interactive shell on the node (WebSocket); see docs/API.md', tags: ['shell'] },
      onRequest: websocketAccess(deps, 'operator', 'a shell session'),
    },
    (socket, request) => {
      if (request.liveRefusal !== null) {
        socket.close(request.liveRefusal.code, request.liveRefusal.reason);
        return;
      }
      const parsed = shellRequestSchema.safeParse({ params: request.params, query: request.query });
      if (!parsed.success) {
        const message = `invalid shell request: ${describeIssues(parsed.error)}`;
        socket.send(JSON.stringify({ type: 'error', code: 'invalid_request', message }));
        socket.close(shellCloseCodes.refused, message.slice(0, 120));
        return;
      }
      const { params, query } = parsed.data;
      deps.shell.attach({ socket, nodeId: params.nodeId, query, actor: actorOf(request) });
    },
  );

  app.get(
    '/api/v1/shell-sessions',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['shell'],
        summary: 'Shell sessions, newest first: who, which node, start, end, exit',
        querystring: shellSessionListQuerySchema,
        response: { 200: shellSessionListSchema },
      },
    },
    async (request) => ({ items: await deps.shell.list(request.query) }),
  );

  app.get(
    '/api/v1/shell-sessions/:sessionId/recording',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['shell'],
        summary: 'The session as an asciicast v2 file (application/x-asciicast)',
        params: z.object({ sessionId: idSchema }),
      },
    },
    async (request, reply) => {
      const recording = await deps.shell.recording(request.params.sessionId);
      return reply
        .type('application/x-asciicast')
        .header('content-disposition', `attachment; filename="${request.params.sessionId}.cast"`)
        .send(recording);
    },
  );
}
