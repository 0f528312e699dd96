import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  apiTokenCreatedSchema,
  enrollResponseSchema,
  jobDtoSchema,
  joinTokenCreatedSchema,
  newId,
  runDtoSchema,
  scheduleDetailSchema,
  sessionInfoDtoSchema,
  webhookCreatedSchema,
  type Role,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ADMIN, type InProcessMaster, startMaster } from '@edgestelle/fleet-fixture';

/**
 * Every route × every kind of caller, with the status each must get, from one table. A route
 * the master registers that is missing here fails the test, so a new route cannot ship without
 * a decision about who may call it. The same pass checks the audit log (every successful change
 * left exactly one event, reads none) and that no secret shows up in any response body (beyond
 * the one create response that hands it out), any log line, or the metrics.
 */

type Caller = 'none' | 'badToken' | 'expiredSession' | 'viewer' | 'operator' | 'admin';
const callers: readonly Caller[] = ['none', 'badToken', 'expiredSession', 'viewer', 'operator', 'admin'];

interface Call {
  path: string;
  body?: unknown;
}

interface Row {
  /** Expected status for viewer, operator and admin; the unauthenticated three get `anonymous`. */
  roles: readonly [viewer: number, operator: number, admin: number];
  /** For none / bad token / expired session: 401 unless the route is public. */
  anonymous?: number;
  /** Builds the request for one caller (may create what it acts on). */
  call: (ctx: Context, caller: Caller) => Promise<Call> | Call;
  /** Its successful response hands out a secret once (tokens, enrollment): left out of the secret scan. */
  showsSecret?: boolean;
}

interface Context {
  stack: InProcessMaster;
  nodeId: string;
  jobId: string;
  runId: string;
  users: Record<Role, { userId: string; username: string; password: string; token: string }>;
  counter: number;
  secrets: Set<string>;
  /** What the given role's user owns, made through the API as that user. */
  own(
    caller: Caller,
    path: string,
    body: unknown,
    schema: z.ZodType<{ [k: string]: unknown }>,
  ): Promise<Record<string, unknown>>;
  adminApi<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T>;
}

const R = (viewer: number, operator: number, admin: number) => [viewer, operator, admin] as const;
const unique = (ctx: Context, prefix: string) => `${prefix}-${(ctx.counter += 1)}`;
const roleOf = (caller: Caller): Role => (caller === 'viewer' || caller === 'operator' ? caller : 'admin');

const table: Record<string, Row> = {
  'GET /healthz': { roles: R(200, 200, 200), anonymous: 200, call: () => ({ path: '/healthz' }) },
  'GET /readyz': { roles: R(200, 200, 200), anonymous: 200, call: () => ({ path: '/readyz' }) },
  'GET /api/v1/version': { roles: R(200, 200, 200), anonymous: 200, call: () => ({ path: '/api/v1/version' }) },
  // Public: this stack has no downloads folder, so everyone gets the 404 that says how to build one.
  ...Object.fromEntries(
    ['edgestelle', 'edgestelle.sha256', 'edgestelle-agent', 'edgestelle-agent.sha256'].map((name) => [
      `GET /downloads/${name}`,
      { roles: R(404, 404, 404), anonymous: 404, call: () => ({ path: `/downloads/${name}` }) },
    ]),
  ),
  'GET /metrics': { roles: R(200, 200, 200), call: () => ({ path: '/metrics' }) },
  'GET /api/docs': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs' }) },
  'GET /api/docs/json': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs/json' }) },
  'GET /api/docs/yaml': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs/yaml' }) },
  'GET /api/docs/initOAuth': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs/initOAuth' }) },
  'GET /api/docs/uiConfig': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs/uiConfig' }) },
  'GET /api/docs/static/*': { roles: R(200, 200, 200), call: () => ({ path: '/api/docs/static/swagger-ui.css' }) },
  'GET /api/docs/static/index.html': {
    roles: R(200, 200, 200),
    call: () => ({ path: '/api/docs/static/index.html' }),
  },
  'GET /api/docs/static/swagger-initializer.js': {
    roles: R(200, 200, 200),
    call: () => ({ path: '/api/docs/static/swagger-initializer.js' }),
  },
  'GET /': { roles: R(200, 200, 200), anonymous: 200, call: () => ({ path: '/' }) },
  'GET /*': { roles: R(200, 200, 200), anonymous: 200, call: () => ({ path: '/jobs/1' }) },

  'POST /api/v1/auth/login': {
    roles: R(200, 200, 200),
    anonymous: 200,
    call: (ctx) => ({ path: '/api/v1/auth/login', body: { username: 'viewer', password: ctx.users.viewer.password } }),
  },
  'POST /api/v1/auth/logout': { roles: R(204, 204, 204), call: () => ({ path: '/api/v1/auth/logout' }) },
  'GET /api/v1/auth/me': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/auth/me' }) },
  'POST /api/v1/auth/password': {
    roles: R(204, 204, 204),
    call: (ctx, caller) => {
      const { password } = ctx.users[roleOf(caller)];
      return { path: '/api/v1/auth/password', body: { currentPassword: password, newPassword: password } };
    },
  },
  'GET /api/v1/sessions': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/sessions' }) },
  'DELETE /api/v1/sessions/:sessionId': {
    roles: R(204, 204, 204),
    call: async (ctx, caller) => {
      const user = ctx.users[roleOf(caller)];
      await ctx.stack.master.auth.login(user.username, user.password, { ip: '127.0.0.1', userAgent: null });
      const sessions = await ctx.own(
        caller,
        '/api/v1/sessions',
        undefined,
        z.object({ items: z.array(sessionInfoDtoSchema) }),
      );
      const list = z.array(sessionInfoDtoSchema).parse(sessions.items);
      return { path: `/api/v1/sessions/${list[0]?.sessionId ?? newId()}` };
    },
  },
  'GET /api/v1/tokens': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/tokens' }) },
  'POST /api/v1/tokens': {
    roles: R(201, 201, 201),
    showsSecret: true,
    call: (ctx) => ({ path: '/api/v1/tokens', body: { name: unique(ctx, 'token') } }),
  },
  'DELETE /api/v1/tokens/:tokenId': {
    roles: R(204, 204, 204),
    call: async (ctx, caller) => {
      const created = await ctx.own(caller, '/api/v1/tokens', { name: unique(ctx, 'gone') }, apiTokenCreatedSchema);
      ctx.secrets.add(String(created.token));
      return { path: `/api/v1/tokens/${String(created.tokenId)}` };
    },
  },

  'GET /api/v1/users': { roles: R(403, 403, 200), call: () => ({ path: '/api/v1/users' }) },
  'POST /api/v1/users': {
    roles: R(403, 403, 201),
    call: (ctx) => ({
      path: '/api/v1/users',
      body: { username: unique(ctx, 'user'), password: 'a-long-password', role: 'viewer' },
    }),
  },
  'GET /api/v1/users/:userId': {
    roles: R(403, 403, 200),
    call: (ctx) => ({ path: `/api/v1/users/${ctx.users.viewer.userId}` }),
  },
  'PATCH /api/v1/users/:userId': {
    roles: R(403, 403, 200),
    call: (ctx) => ({ path: `/api/v1/users/${ctx.users.viewer.userId}`, body: { role: 'viewer' } }),
  },
  'DELETE /api/v1/users/:userId': {
    roles: R(403, 403, 204),
    call: async (ctx) => {
      const user = await ctx.stack.master.auth.createUser(unique(ctx, 'doomed'), 'a-long-password', 'viewer');
      return { path: `/api/v1/users/${user.userId}` };
    },
  },
  'POST /api/v1/users/:userId/password': {
    roles: R(403, 403, 204),
    call: (ctx) => ({
      path: `/api/v1/users/${ctx.users.viewer.userId}/password`,
      body: { password: ctx.users.viewer.password },
    }),
  },

  'GET /api/v1/nodes': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/nodes' }) },
  'GET /api/v1/nodes/:nodeId': { roles: R(200, 200, 200), call: (ctx) => ({ path: `/api/v1/nodes/${ctx.nodeId}` }) },
  'PATCH /api/v1/nodes/:nodeId': {
    roles: R(403, 403, 200),
    call: (ctx) => ({ path: `/api/v1/nodes/${ctx.nodeId}`, body: { tags: { site: 'lab' } } }),
  },
  'POST /api/v1/nodes/:nodeId/revoke': {
    roles: R(403, 403, 200),
    call: async (ctx) => ({ path: `/api/v1/nodes/${await enrollNode(ctx, unique(ctx, 'revoked'))}/revoke` }),
  },
  'DELETE /api/v1/nodes/:nodeId': {
    roles: R(403, 403, 204),
    call: async (ctx) => {
      const nodeId = await enrollNode(ctx, unique(ctx, 'forgotten'));
      await ctx.stack.master.nodes.revoke(nodeId);
      return { path: `/api/v1/nodes/${nodeId}` };
    },
  },
  'GET /api/v1/tags': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/tags' }) },
  'GET /api/v1/join-tokens': { roles: R(403, 403, 200), call: () => ({ path: '/api/v1/join-tokens' }) },
  'POST /api/v1/join-tokens': {
    roles: R(403, 403, 201),
    showsSecret: true,
    call: () => ({ path: '/api/v1/join-tokens', body: { ttlSec: 3600 } }),
  },
  'DELETE /api/v1/join-tokens/:tokenId': {
    roles: R(403, 403, 204),
    call: async (ctx) => {
      const created = await ctx.adminApi('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { ttlSec: 3600 });
      ctx.secrets.add(created.token);
      return { path: `/api/v1/join-tokens/${created.tokenId}` };
    },
  },
  'POST /api/v1/enroll': {
    roles: R(200, 200, 200),
    anonymous: 200,
    showsSecret: true,
    call: async (ctx) => {
      const created = await ctx.adminApi('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { ttlSec: 3600 });
      ctx.secrets.add(created.token);
      return { path: '/api/v1/enroll', body: { token: created.token, nodeId: unique(ctx, 'enrolled'), name: 'x' } };
    },
  },

  'POST /api/v1/jobs': {
    roles: R(403, 201, 201),
    call: (ctx) => ({ path: '/api/v1/jobs', body: jobBody(ctx) }),
  },
  'GET /api/v1/jobs': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/jobs?state=running,finished' }) },
  'GET /api/v1/jobs/:jobId': { roles: R(200, 200, 200), call: (ctx) => ({ path: `/api/v1/jobs/${ctx.jobId}` }) },
  'GET /api/v1/jobs/:jobId/runs': {
    roles: R(200, 200, 200),
    call: (ctx) => ({ path: `/api/v1/jobs/${ctx.jobId}/runs` }),
  },
  'POST /api/v1/jobs/:jobId/cancel': {
    roles: R(403, 200, 200),
    call: async (ctx) => ({ path: `/api/v1/jobs/${(await newJob(ctx)).jobId}/cancel` }),
  },
  'POST /api/v1/jobs/:jobId/pause': {
    roles: R(403, 200, 200),
    call: async (ctx) => ({ path: `/api/v1/jobs/${(await newJob(ctx)).jobId}/pause` }),
  },
  'POST /api/v1/jobs/:jobId/resume': {
    roles: R(403, 200, 200),
    call: async (ctx) => {
      const { jobId } = await newJob(ctx);
      await ctx.adminApi('POST', `/api/v1/jobs/${jobId}/pause`, jobDtoSchema);
      return { path: `/api/v1/jobs/${jobId}/resume` };
    },
  },
  'GET /api/v1/runs': { roles: R(200, 200, 200), call: (ctx) => ({ path: `/api/v1/runs?nodeId=${ctx.nodeId}` }) },
  'GET /api/v1/runs/:runId': { roles: R(200, 200, 200), call: (ctx) => ({ path: `/api/v1/runs/${ctx.runId}` }) },
  'POST /api/v1/runs/:runId/cancel': {
    roles: R(403, 200, 200),
    call: async (ctx) => {
      const job = await newJob(ctx);
      const runs = await ctx.adminApi(
        'GET',
        `/api/v1/jobs/${job.jobId}/runs`,
        z.object({ items: z.array(runDtoSchema) }),
      );
      return { path: `/api/v1/runs/${runs.items[0]?.runId ?? newId()}/cancel` };
    },
  },
  'GET /api/v1/runs/:runId/output': {
    roles: R(200, 200, 200),
    call: (ctx) => ({ path: `/api/v1/runs/${ctx.runId}/output` }),
  },
  'GET /api/v1/runs/:runId/output/raw': {
    roles: R(200, 200, 200),
    call: (ctx) => ({ path: `/api/v1/runs/${ctx.runId}/output/raw` }),
  },
  // A plain GET (no upgrade); the WebSocket close codes have their own test.
  'GET /api/v1/live': { roles: R(400, 400, 400), call: () => ({ path: '/api/v1/live' }) },
  // A plain GET (no upgrade): the role is checked first; cli/test/shell.test.ts opens real sessions.
  'GET /api/v1/nodes/:nodeId/shell': {
    roles: R(403, 400, 400),
    call: (ctx) => ({ path: `/api/v1/nodes/${ctx.nodeId}/shell` }),
  },
  'GET /api/v1/shell-sessions': { roles: R(403, 200, 200), call: () => ({ path: '/api/v1/shell-sessions' }) },
  'GET /api/v1/shell-sessions/:sessionId/recording': {
    roles: R(403, 404, 404),
    call: () => ({ path: `/api/v1/shell-sessions/${newId()}/recording` }),
  },

  'GET /api/v1/scripts': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/scripts?q=hello' }) },
  'GET /api/v1/scripts/:name': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/scripts/hello?version=1' }) },
  'PUT /api/v1/scripts/:name': {
    roles: R(403, 201, 201),
    call: (ctx) => ({
      path: `/api/v1/scripts/${unique(ctx, 'script')}`,
      body: { interpreter: 'sh', body: 'echo "$PARAM_WHO"', parameters: [{ name: 'who', type: 'string' }] },
    }),
  },
  'GET /api/v1/scripts/:name/versions': {
    roles: R(200, 200, 200),
    call: () => ({ path: '/api/v1/scripts/hello/versions' }),
  },
  'GET /api/v1/search': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/search?q=hello&state=queued' }) },
  'GET /api/v1/audit': {
    roles: R(403, 403, 200),
    call: () => ({ path: '/api/v1/audit?action=job.create,job.cancel' }),
  },
  'GET /api/v1/admin/store': { roles: R(403, 403, 200), call: () => ({ path: '/api/v1/admin/store' }) },
  'POST /api/v1/admin/retention/run': {
    roles: R(403, 403, 200),
    call: () => ({ path: '/api/v1/admin/retention/run' }),
  },

  'GET /api/v1/schedules': { roles: R(200, 200, 200), call: () => ({ path: '/api/v1/schedules' }) },
  'POST /api/v1/schedules': {
    roles: R(403, 201, 201),
    call: (ctx) => ({ path: '/api/v1/schedules', body: scheduleBody(ctx, false) }),
  },
  'GET /api/v1/schedules/preview': {
    roles: R(200, 200, 200),
    call: () => ({ path: '/api/v1/schedules/preview?cron=30%202%20*%20*%20*&timezone=Europe/Berlin' }),
  },
  'GET /api/v1/schedules/:name': {
    roles: R(200, 200, 200),
    call: async (ctx) => ({ path: `/api/v1/schedules/${await newSchedule(ctx, false)}` }),
  },
  'POST /api/v1/schedules/:name/pause': {
    roles: R(403, 200, 200),
    call: async (ctx) => ({ path: `/api/v1/schedules/${await newSchedule(ctx, false)}/pause` }),
  },
  'POST /api/v1/schedules/:name/resume': {
    roles: R(403, 200, 200),
    call: async (ctx) => ({ path: `/api/v1/schedules/${await newSchedule(ctx, true)}/resume` }),
  },
  'POST /api/v1/schedules/:name/run': {
    roles: R(403, 201, 201),
    call: async (ctx) => ({ path: `/api/v1/schedules/${await newSchedule(ctx, false)}/run` }),
  },
  'DELETE /api/v1/schedules/:name': {
    roles: R(403, 204, 204),
    call: async (ctx) => ({ path: `/api/v1/schedules/${await newSchedule(ctx, false)}` }),
  },

  'GET /api/v1/webhooks': { roles: R(403, 403, 200), call: () => ({ path: '/api/v1/webhooks' }) },
  'POST /api/v1/webhooks': {
    roles: R(403, 403, 201),
    showsSecret: true,
    call: () => ({ path: '/api/v1/webhooks', body: { url: 'http://127.0.0.1:9/matrix', events: ['job.finished'] } }),
  },
  'DELETE /api/v1/webhooks/:webhookId': {
    roles: R(403, 403, 204),
    call: async (ctx) => ({ path: `/api/v1/webhooks/${await newWebhook(ctx)}` }),
  },
  'GET /api/v1/webhooks/:webhookId/deliveries': {
    roles: R(403, 403, 200),
    call: async (ctx) => ({ path: `/api/v1/webhooks/${await newWebhook(ctx)}/deliveries` }),
  },
};

function scheduleBody(ctx: Context, paused: boolean): unknown {
  return {
    name: unique(ctx, 'schedule'),
    cron: '0 3 * * *',
    timezone: 'Europe/Berlin',
    paused,
    job: { target: { nodeIds: [ctx.nodeId] }, script: { name: 'hello' }, params: { who: 'matrix' } },
  };
}

/** A schedule made by the admin, for a route that acts on one. */
async function newSchedule(ctx: Context, paused: boolean): Promise<string> {
  return (await ctx.adminApi('POST', '/api/v1/schedules', scheduleDetailSchema, scheduleBody(ctx, paused))).name;
}

async function newWebhook(ctx: Context): Promise<string> {
  const created = await ctx.adminApi('POST', '/api/v1/webhooks', webhookCreatedSchema, {
    url: 'http://127.0.0.1:9/matrix',
    events: ['job.finished'],
  });
  ctx.secrets.add(created.secret);
  return created.webhookId;
}

/** Each job carries a secret variable of its own, which no response or log line may show. */
function jobBody(ctx: Context): unknown {
  const secret = unique(ctx, 'matrix-secret-value');
  ctx.secrets.add(secret);
  return {
    target: { nodeIds: [ctx.nodeId] },
    script: { name: 'hello' },
    params: { who: 'matrix' },
    secretEnv: { MATRIX_TOKEN: secret },
  };
}

async function newJob(ctx: Context) {
  return ctx.adminApi('POST', '/api/v1/jobs', jobDtoSchema, jobBody(ctx));
}

/** A node enrolled through the API (no agent runs: it stays offline, and its runs stay queued). */
async function enrollNode(ctx: Context, nodeId: string): Promise<string> {
  const { token } = await ctx.adminApi('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { ttlSec: 3600 });
  ctx.secrets.add(token);
  const response = await fetch(`${ctx.stack.master.url}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, nodeId, name: nodeId }),
  });
  const enrolled = enrollResponseSchema.parse(await response.json());
  ctx.secrets.add(enrolled.nodeKey);
  ctx.secrets.add(enrolled.mqtt.password);
  return nodeId;
}

describe('route matrix', () => {
  it('gives every route × caller the status from the table, audits every change once, and leaks no secret', async () => {
    const routes = new Set<string>();
    const logLines: string[] = [];
    const logDestination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    await using stack = await startMaster({
      deps: {
        logger: undefined,
        logDestination,
        downloadsDir: join(import.meta.dirname, 'no-downloads-here'),
        onRoute: (route) => {
          for (const method of [route.method].flat()) if (method !== 'HEAD') routes.add(`${method} ${route.url}`);
        },
      },
      config: { logLevel: 'debug' },
    });
    const adminApi = stack.admin.api;
    const secrets = new Set<string>([ADMIN.password, stack.admin.token]);
    const makeUser = async (role: 'viewer' | 'operator') => {
      const password = `${role}-password-long`;
      const user = await stack.master.auth.createUser(role, password, role);
      const { token } = await stack.master.auth.createApiToken(user.userId, role, null);
      secrets.add(password);
      secrets.add(token);
      return { userId: user.userId, username: role, password, token };
    };
    const users: Context['users'] = {
      admin: { userId: '', username: 'admin', password: ADMIN.password, token: stack.admin.token },
      viewer: await makeUser('viewer'),
      operator: await makeUser('operator'),
    };
    const ctx: Context = {
      stack,
      nodeId: '',
      jobId: '',
      runId: '',
      users,
      counter: 0,
      secrets,
      adminApi,
      async own(caller, path, body, schema) {
        const response = await fetch(`${stack.master.url}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: {
            authorization: `Bearer ${users[roleOf(caller)].token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return schema.parse(await response.json());
      },
    };
    ctx.nodeId = await enrollNode(ctx, 'matrix-node');
    await adminApi('PUT', '/api/v1/scripts/hello', z.unknown(), {
      interpreter: 'sh',
      body: 'echo "hello $PARAM_WHO"',
      parameters: [{ name: 'who', type: 'string', required: true }],
    });
    const job = await newJob(ctx);
    ctx.jobId = job.jobId;
    ctx.runId = (await stack.admin.runs(job.jobId))[0]?.runId ?? '';
    expect(job.script).toEqual({ name: 'hello', version: 1 });
    expect(job.spec.env).toEqual({ PARAM_WHO: 'matrix' });
    expect(job.secretEnv).toEqual({ MATRIX_TOKEN: '***' });

    // An expired session: a real login whose expiry has passed.
    const expired = await stack.master.auth.login('admin', ADMIN.password, { ip: '127.0.0.1', userAgent: null });
    if (expired === null) throw new Error('admin login failed');
    await stack.master.store.db.updateTable('sessions').set({ expires_at: 1 }).where('user_id', '!=', '').execute();
    secrets.add(expired.sessionToken);

    const headersFor = (caller: Caller): Record<string, string> => {
      switch (caller) {
        case 'none':
          return {};
        case 'badToken':
          return { authorization: 'Bearer est_not-a-token-at-all' };
        case 'expiredSession':
          return {
            cookie: `edgestelle_session=${expired.sessionToken}`,
            'x-csrf-token': expired.principal.csrfToken ?? '',
          };
        case 'viewer':
        case 'operator':
        case 'admin':
          return { authorization: `Bearer ${users[caller].token}` };
      }
    };
    const auditCount = async (): Promise<number> =>
      Number(
        (
          await stack.master.store.db
            .selectFrom('audit_events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    expect(
      [...routes].filter((route) => !(route in table)),
      'routes missing from the table',
    ).toEqual([]);
    const failures: string[] = [];
    const bodies: string[] = [];
    let calls = 0;
    for (const route of [...routes].sort()) {
      const row = table[route];
      if (row === undefined) continue;
      const method = route.slice(0, route.indexOf(' '));
      for (const caller of callers) {
        const { path, body } = await row.call(ctx, caller);
        const before = await auditCount();
        const response = await fetch(`${stack.master.url}${path}`, {
          method,
          headers: { ...headersFor(caller), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        calls += 1;
        const expected =
          caller === 'viewer'
            ? row.roles[0]
            : caller === 'operator'
              ? row.roles[1]
              : caller === 'admin'
                ? row.roles[2]
                : (row.anonymous ?? 401);
        if (response.status !== expected)
          failures.push(`${route} as ${caller}: ${response.status}, expected ${expected}: ${text.slice(0, 200)}`);
        const events = (await auditCount()) - before;
        const ok = response.status < 400;
        // A login is audited whether it succeeds or not; other calls only when they change something.
        const expectedEvents = route === 'POST /api/v1/auth/login' ? 1 : ok && method !== 'GET' ? 1 : 0;
        if (events !== expectedEvents)
          failures.push(
            `${route} as ${caller} (${response.status}): ${events} audit events, expected ${expectedEvents}`,
          );
        if (!(row.showsSecret === true && ok)) bodies.push(`${route} as ${caller}: ${text}`);
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBe(routes.size * callers.length);

    // Secrets the master holds: none may appear outside the one response that hands it out.
    const masterKey = await readFile(join(stack.dir, 'master', 'master.key'));
    secrets.add(masterKey.toString('base64'));
    secrets.add(masterKey.toString('hex'));
    secrets.add((await readFile(join(stack.dir, 'master', 'mqtt-master-password'), 'utf8')).trim());
    for (const { password_hash } of await stack.master.store.db.selectFrom('users').select('password_hash').execute()) {
      secrets.add(password_hash);
      secrets.add(password_hash.split('$').at(-1) ?? password_hash);
    }
    for (const { token_hash } of await stack.master.store.db.selectFrom('api_tokens').select('token_hash').execute()) {
      secrets.add(token_hash);
    }
    const metrics = await (await stack.admin.request('GET', '/metrics')).text();
    for (const family of [
      'edgestelle_nodes_online',
      'edgestelle_runs{state="queued"}',
      'edgestelle_ingest_chunks_total',
      'edgestelle_ingest_bytes_total',
      'edgestelle_ingest_acks_pending',
      'edgestelle_websocket_clients',
      'edgestelle_master_nodejs_eventloop_lag_seconds',
      'edgestelle_db_ping_seconds',
      'edgestelle_ingest_commit_seconds_count',
      'edgestelle_store_output_bytes',
      'edgestelle_store_database_bytes',
    ]) {
      expect(metrics, family).toContain(`${family} `);
    }
    expect(metrics).toContain('# TYPE edgestelle_envelopes_rejected_total counter');
    expect(logLines.length).toBeGreaterThan(0);
    const leaks: string[] = [];
    for (const secret of secrets) {
      if (secret.length < 8) continue;
      for (const [where, texts] of [
        ['response', bodies],
        ['log', logLines],
        ['metrics', [metrics]],
      ] as const) {
        const hit = texts.find((t) => t.includes(secret));
        if (hit !== undefined) leaks.push(`${where}: ${secret.slice(0, 6)}… in ${hit.slice(0, 160)}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
