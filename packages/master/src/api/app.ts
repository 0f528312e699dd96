import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { DropArgument } from 'node:net';
import type { Duplex } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { readinessSchema } from '@edgestelle/protocol';
import { z } from 'zod';
import { hasRole } from '../auth/principal.ts';
import { SESSION_COOKIE } from '../auth/sessions.ts';
import { MasterError, MasterErrorCode, httpStatusByCode } from '../errors.ts';
import { warnAtMost } from '../warn-at-most.ts';
import './access.ts';
import type { ApiDeps, HttpTimeouts } from './api-deps.ts';
import { registerAdminRoutes } from './routes-admin.ts';
import { registerAuthRoutes } from './routes-auth.ts';
import { registerDownloadRoutes } from './routes-downloads.ts';
import { registerJobRoutes } from './routes-jobs.ts';
import { registerJobControlRoutes } from './routes-job-control.ts';
import { registerNodeRoutes } from './routes-nodes.ts';
import { registerScheduleRoutes } from './routes-schedules.ts';
import { registerScriptRoutes } from './routes-scripts.ts';
import { registerShellRoutes } from './routes-shell.ts';
import { registerUserRoutes } from './routes-users.ts';
import { registerVersionRoute } from './routes-version.ts';
import { registerWebhookRoutes } from './routes-webhooks.ts';
import { clientErrorHandler, securityHeaders } from './security-headers.ts';
import { authenticate, websocketAccess } from './websocket-access.ts';

/**
 * Fastify's defaults set no deadline for a request's body (and no idle timeout): a client that
 * sent its headers and then a byte of body now and then held its connection as long as it
 * liked. Node's own header deadline (60 s) was checked only every 30 s.
 */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { headersMs: 10_000, requestMs: 60_000, checkIntervalMs: 1000 };

/** Refused connections are logged at warn at most this often (each one is counted on /metrics). */
const REFUSAL_WARN_INTERVAL_MS = 10_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const timeouts = deps.timeouts ?? DEFAULT_HTTP_TIMEOUTS;
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: 1024 * 1024,
    requestTimeout: timeouts.requestMs,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: timeouts.checkIntervalMs },
    // Request lines at info would drown the log of a busy fleet; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustProxy,
    // Every log line of a request carries its id (as reqId); the client sees it in X-Request-Id.
    genReqId: () => randomUUID(),
    // Shutdown must not wait on a browser's keep-alive or a refused WebSocket upgrade.
    forceCloseConnections: true,
    clientErrorHandler,
    // A URL the router cannot decode is refused before any hook runs: the headers by hand.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void reply
        .headers(securityHeaders)
        .status(400)
        .send({ code: MasterErrorCode.invalidRequest, message: error.message });
    },
  });
  app.server.maxConnections = deps.maxConnections;
  const warnRefused = warnAtMost(deps.logger, REFUSAL_WARN_INTERVAL_MS);
  app.server.on('drop', (dropped?: DropArgument) => {
    deps.metrics.httpConnectionRefused();
    warnRefused(
      { remoteAddress: dropped?.remoteAddress, maxConnections: deps.maxConnections },
      'closed an HTTP connection: EDGESTELLE_HTTP_MAX_CONNECTIONS are open',
    );
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (deps.onRoute !== undefined) {
    const onRoute = deps.onRoute;
    app.addHook('onRoute', (route) => onRoute({ method: route.method, url: route.url }));
  }
  app.decorateRequest('principal', null);
  app.decorateRequest('liveRefusal', null);
  // onSend runs for every answer a route, an error handler, a 404 or a plugin sends.
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id).headers(securityHeaders);
  });
  // A refused WebSocket upgrade leaves its socket outside the HTTP server's bookkeeping, where
  // forceCloseConnections cannot reach it; end those at shutdown so close() does not hang.
  const upgradeSockets = new Set<Duplex>();
  app.server.on('upgrade', (_request, socket) => {
    upgradeSockets.add(socket);
    socket.once('close', () => upgradeSockets.delete(socket));
  });
  app.addHook('preClose', (done) => {
    for (const socket of upgradeSockets) socket.end();
    done();
  });
  // Hook and error handler first: plugins registered later (swagger-ui) inherit them.
  await app.register(fastifyCookie);
  app.addHook('onRequest', async (request, reply) => {
    const url = request.routeOptions.url;
    if (url === undefined) return;
    // The console's files must load before anyone signs in; everything under /api is guarded.
    const access = request.routeOptions.config.access ?? (url.startsWith('/api/') ? 'viewer' : 'public');
    if (access === 'public') return;
    const principal = await authenticate(deps.auth, request);
    if (principal === null) {
      throw new MasterError(
        MasterErrorCode.unauthenticated,
        'sign in (POST /api/v1/auth/login) or send an API token as "Authorization: Bearer <token>"',
      );
    }
    if (principal.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const header = request.headers['x-csrf-token'];
      if (!deps.auth.csrfMatches(principal, typeof header === 'string' ? header : undefined)) {
        throw new MasterError(
          MasterErrorCode.csrfFailed,
          'send the csrfToken from /api/v1/auth/me in the X-CSRF-Token header',
        );
      }
    }
    if (access !== 'any' && !hasRole(principal, access)) {
      throw new MasterError(MasterErrorCode.forbidden, `this needs the ${access} role; you are ${principal.user.role}`);
    }
    request.principal = principal;
    void reply;
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const first = error.validation[0];
      const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
      const where = error.validationContext ?? 'request';
      const field = path === '' ? where : path;
      const issues = error.validation.map(
        (v) => `${v.instancePath.replace(/^\//, '').replaceAll('/', '.') || where}: ${v.message}`,
      );
      return reply
        .status(400)
        .send({ code: MasterErrorCode.invalidRequest, message: `invalid ${where}: ${issues.join('; ')}`, field });
    }
    if (error instanceof MasterError) {
      if (error.retryAfterSec !== undefined) void reply.header('retry-after', String(error.retryAfterSec));
      return reply.status(httpStatusByCode[error.code]).send({
        code: error.code,
        message: error.message,
        ...(error.field === undefined ? {} : { field: error.field }),
      });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .status(413)
        .send({ code: MasterErrorCode.payloadTooLarge, message: 'the request body is over 1 MiB' });
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.status(400).send({ code: MasterErrorCode.invalidRequest, message: error.message });
    }
    request.log.error({ err: error, reqId: request.id }, 'request failed');
    return reply.status(500).send({
      code: MasterErrorCode.internal,
      message: `internal error; the master log has the details (request ${request.id})`,
    });
  });

  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'EdgeStelle master API', version: '1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
      // @fastify/websocket hides WebSocket routes from the generated description: this one by hand.
      paths: {
        '/api/v1/nodes/{nodeId}/shell': {
          get: {
            tags: ['shell'],
            summary: 'A shell session on the node: a WebSocket of bytes and JSON frames (see docs/API.md)',
            description:
              'Operator and up. Query: cols, rows, term, command (shellQuerySchema). Binary frames are keystrokes up and terminal output down; text frames are shellClientMessageSchema / shellServerMessageSchema. A session that cannot start gets an error frame and close 4400; refused credentials, Origin or role close 4401/4403.',
            parameters: [{ name: 'nodeId', in: 'path', required: true, schema: { type: 'string' } }],
            responses: {
              '101': { description: 'Switching Protocols: the session' },
              '403': { description: 'A plain GET by a viewer' },
              '404': { description: 'A plain GET (no Upgrade header)' },
            },
          },
        },
        '/api/v1/live': {
          get: {
            tags: ['live'],
            summary: 'The live hub: a WebSocket of JSON frames (liveClientMessageSchema / liveServerMessageSchema)',
            description:
              'Send Upgrade: websocket. Refused credentials or a foreign Origin: the upgrade succeeds and the socket is closed with 4401 or 4403. A plain GET answers 404 (401 without credentials).',
            responses: {
              '101': { description: 'Switching Protocols: the live hub' },
              '401': { description: 'A plain GET without credentials' },
              '404': { description: 'A plain GET (no Upgrade header)' },
            },
          },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' });

  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: { tags: ['health'], response: { 200: readinessSchema, 503: readinessSchema } },
    },
    async (_request, reply) => {
      const database = await deps.store.ping();
      const broker = deps.brokerReady();
      const ready = database && broker;
      return reply.status(ready ? 200 : 503).send({ ready, database, broker });
    },
  );

  registerAuthRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerNodeRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerJobControlRoutes(app, deps);
  registerScriptRoutes(app, deps);
  registerScheduleRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerAdminRoutes(app, deps);
  registerShellRoutes(app, deps);
  registerVersionRoute(app);
  registerDownloadRoutes(app, deps);

  app.get(
    '/api/v1/live',
    {
      websocket: true,
      config: { access: 'public' },
      schema: { summary: 'The live hub (WebSocket); see docs/API.md', tags: ['live'] },
      onRequest: websocketAccess(deps, 'viewer', 'the live hub'),
    },
    (socket, request) => {
      if (request.liveRefusal !== null) {
        socket.close(request.liveRefusal.code, request.liveRefusal.reason);
        return;
      }
      deps.hub.attach(socket, async () => (await authenticate(deps.auth, request)) !== null);
    },
  );

  if (deps.publicDir !== undefined && existsSync(deps.publicDir)) {
    await app.register(fastifyStatic, { root: deps.publicDir, prefix: '/', index: ['index.html'] });
    app.setNotFoundHandler((request, reply) => {
      if (request.method === 'GET' && !request.url.startsWith('/api/')) return reply.sendFile('index.html');
      return reply
        .status(404)
        .send({ code: MasterErrorCode.notFound, message: `no route ${request.method} ${request.url}` });
    });
  } else {
    app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><title>EdgeStelle</title><h1>EdgeStelle master</h1><p>The web console is not built. Build it with <code>npm run build -w @edgestelle/web</code>; the API is at <a href="/api/docs">/api/docs</a>.</p>',
        ),
    );
    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send({ code: MasterErrorCode.notFound, message: `no route ${request.method} ${request.url}` }),
    );
  }
  return app;
}
