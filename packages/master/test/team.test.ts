import {
  apiErrorSchema,
  apiTokenCreatedSchema,
  auditPageSchema,
  jobHistoryPageSchema,
  liveCloseCodes,
  outputPageSchema,
  runHistoryPageSchema,
  scriptDtoSchema,
  sessionDtoSchema,
  sessionInfoDtoSchema,
  userAccountDtoSchema,
} from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import WebSocket from 'ws';
import { ADMIN, type InProcessMaster, openLive, startMaster } from '@edgestelle/fleet-fixture';

async function login(stack: InProcessMaster, username: string, password: string) {
  const response = await fetch(`${stack.master.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const cookie = (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const body: unknown = await response.json();
  return { response, cookie, body };
}

function as(stack: InProcessMaster, credentials: { token?: string; cookie?: string; csrf?: string }) {
  return async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${stack.master.url}${path}`, {
      method,
      headers: {
        ...(credentials.token === undefined ? {} : { authorization: `Bearer ${credentials.token}` }),
        ...(credentials.cookie === undefined ? {} : { cookie: credentials.cookie }),
        ...(credentials.csrf === undefined ? {} : { 'x-csrf-token': credentials.csrf }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
}

const job = { target: { all: true }, spec: { command: 'true', timeoutMs: 1000 } } as const;

describe('users, sessions and tokens', () => {
  it('throttles failed logins per user with 429 and Retry-After until the window passes', async () => {
    await using stack = await startMaster();
    for (let i = 0; i < 5; i += 1) expect((await login(stack, 'admin', 'wrong-password')).response.status).toBe(401);
    const throttled = await login(stack, 'admin', ADMIN.password);
    expect(throttled.response.status).toBe(429);
    expect(Number(throttled.response.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(apiErrorSchema.parse(throttled.body).code).toBe('too_many_requests');
    stack.clock.offsetMs += 15 * 60_000;
    expect((await login(stack, 'admin', ADMIN.password)).response.status).toBe(200);
    const audit = await stack.admin.api('GET', '/api/v1/audit?action=auth.login_failed,auth.login', auditPageSchema);
    // Newest first; the oldest is the fixture signing in for its admin token.
    expect(audit.items.map((e) => e.action)).toEqual([
      'auth.login',
      'auth.login_failed',
      ...Array<string>(5).fill('auth.login_failed'),
      'auth.login',
    ]);
    expect(audit.items[1]?.details).toEqual({ throttled: true });
    expect(audit.items[0]?.ip).toBe('127.0.0.1');
  });

  it("caps a token at its role and its owner's, and disabling or demoting the owner acts at once", async () => {
    await using stack = await startMaster();
    const admin = as(stack, { token: stack.admin.token });
    const created = userAccountDtoSchema.parse(
      await (
        await admin('POST', '/api/v1/users', { username: 'olga', password: 'olga-password-1', role: 'operator' })
      ).json(),
    );
    const { token: olga } = await stack.master.auth.createApiToken(created.userId, 'olga', null);
    const asOlga = as(stack, { token: olga });
    expect((await asOlga('POST', '/api/v1/tokens', { name: 'too much', role: 'admin' })).status).toBe(403);
    const viewerToken = apiTokenCreatedSchema.parse(
      await (await asOlga('POST', '/api/v1/tokens', { name: 'read only', role: 'viewer' })).json(),
    );
    expect(viewerToken.role).toBe('viewer');
    const asReadOnly = as(stack, { token: viewerToken.token });
    expect((await asReadOnly('POST', '/api/v1/jobs', job)).status).toBe(403);
    expect((await asReadOnly('GET', '/api/v1/nodes')).status).toBe(200);
    // A token cannot mint a token above itself either.
    expect((await asReadOnly('POST', '/api/v1/tokens', { name: 'escalate', role: 'operator' })).status).toBe(403);

    await stack.startAgent('edge-1');
    expect((await asOlga('POST', '/api/v1/jobs', job)).status).toBe(201);
    await admin('PATCH', `/api/v1/users/${created.userId}`, { role: 'viewer' });
    expect((await asOlga('POST', '/api/v1/jobs', job)).status).toBe(403);
    const me = sessionDtoSchema.parse(await (await asOlga('GET', '/api/v1/auth/me')).json());
    expect(me.user.role).toBe('viewer');

    const session = await login(stack, 'olga', 'olga-password-1');
    expect(session.response.status).toBe(200);
    await admin('PATCH', `/api/v1/users/${created.userId}`, { disabled: true });
    expect((await asOlga('GET', '/api/v1/nodes')).status).toBe(401);
    expect((await as(stack, { cookie: session.cookie })('GET', '/api/v1/nodes')).status).toBe(401);
    expect((await login(stack, 'olga', 'olga-password-1')).response.status).toBe(401);
    await admin('PATCH', `/api/v1/users/${created.userId}`, { disabled: false });
    expect((await asOlga('GET', '/api/v1/nodes')).status).toBe(200);

    // The last enabled admin cannot be demoted, disabled or deleted.
    const admins = z
      .object({ items: z.array(userAccountDtoSchema) })
      .parse(await (await admin('GET', '/api/v1/users')).json());
    const adminId = admins.items.find((u) => u.username === 'admin')?.userId ?? '';
    expect((await admin('PATCH', `/api/v1/users/${adminId}`, { role: 'operator' })).status).toBe(409);
    expect((await admin('PATCH', `/api/v1/users/${adminId}`, { disabled: true })).status).toBe(409);
    expect((await admin('DELETE', `/api/v1/users/${adminId}`)).status).toBe(409);
  });

  it('lists sessions and revokes one at once; a password change ends the other sessions', async () => {
    await using stack = await startMaster();
    const first = await login(stack, 'admin', ADMIN.password);
    const second = await login(stack, 'admin', ADMIN.password);
    const csrf = sessionDtoSchema.parse(first.body).csrfToken ?? '';
    const asFirst = as(stack, { cookie: first.cookie, csrf });
    const list = z
      .object({ items: z.array(sessionInfoDtoSchema) })
      .parse(await (await asFirst('GET', '/api/v1/sessions')).json());
    expect(list.items).toHaveLength(2);
    expect(list.items.filter((s) => s.current)).toHaveLength(1);
    const other = list.items.find((s) => !s.current);
    expect((await asFirst('DELETE', `/api/v1/sessions/${other?.sessionId ?? ''}`)).status).toBe(204);
    expect((await as(stack, { cookie: second.cookie })('GET', '/api/v1/auth/me')).status).toBe(401);

    const third = await login(stack, 'admin', ADMIN.password);
    const wrong = await asFirst('POST', '/api/v1/auth/password', {
      currentPassword: 'nope',
      newPassword: 'a-new-password',
    });
    expect(wrong.status).toBe(401);
    expect(
      (
        await asFirst('POST', '/api/v1/auth/password', {
          currentPassword: ADMIN.password,
          newPassword: 'a-new-password',
        })
      ).status,
    ).toBe(204);
    expect((await as(stack, { cookie: third.cookie })('GET', '/api/v1/auth/me')).status).toBe(401);
    expect((await asFirst('GET', '/api/v1/auth/me')).status).toBe(200);
    expect((await login(stack, 'admin', 'a-new-password')).response.status).toBe(200);
  });
});

describe('live connections and revocation', () => {
  it('closes an open live connection with 4401 as soon as its token is revoked or its user disabled', async () => {
    await using stack = await startMaster();
    const admin = as(stack, { token: stack.admin.token });
    const user = await stack.master.auth.createUser('watcher', 'watcher-password', 'viewer');
    const first = await stack.master.auth.createApiToken(user.userId, 'first', null);
    const second = await stack.master.auth.createApiToken(user.userId, 'second', null);
    const closeCode = (socket: WebSocket) =>
      new Promise<number>((resolve) => socket.once('close', (code: number) => resolve(code)));
    const a = await openLive(stack.master.url, { authorization: `Bearer ${first.token}` });
    const b = await openLive(stack.master.url, { authorization: `Bearer ${second.token}` });
    const aClosed = closeCode(a.socket);
    expect((await admin('DELETE', `/api/v1/tokens/${first.tokenId}`)).status).toBe(204);
    expect(await aClosed).toBe(liveCloseCodes.unauthenticated);
    expect(b.socket.readyState).toBe(WebSocket.OPEN);
    const bClosed = closeCode(b.socket);
    expect((await admin('PATCH', `/api/v1/users/${user.userId}`, { disabled: true })).status).toBe(200);
    expect(await bClosed).toBe(liveCloseCodes.unauthenticated);
    expect(stack.master.hub.revokedClientsClosed).toBe(2);
  });
});

describe('script library', () => {
  it('keeps versions, runs the exact version with params as PARAM_* variables, and refuses bad params before storing anything', async () => {
    await using stack = await startMaster();
    const agent = await stack.startAgent('edge-1', { tags: { role: 'web' } });
    const body = 'printf "%s|%s|%s\\n" "$PARAM_TARGET" "$PARAM_COUNT" "$PARAM_DRY_RUN"';
    const save = (text: string, description = '') =>
      stack.admin.request('PUT', '/api/v1/scripts/greet', {
        interpreter: 'sh',
        body: text,
        description,
        parameters: [
          { name: 'target', type: 'string', required: true },
          { name: 'count', type: 'number', integer: true, min: 1, max: 5, default: 2 },
          { name: 'dry_run', type: 'boolean', default: true },
        ],
      });
    const v1 = await save(body);
    expect(v1.status).toBe(201);
    expect((await save(body)).status).toBe(200);
    const v2 = scriptDtoSchema.parse(await (await save(`${body}\necho v2`, 'second')).json());
    expect(v2.version).toBe(2);
    const versions = await stack.admin.api(
      'GET',
      '/api/v1/scripts/greet/versions',
      z.object({ items: z.array(z.object({ version: z.number() })) }),
    );
    expect(versions.items.map((v) => v.version)).toEqual([2, 1]);

    // A value that would be a command if spliced into the text arrives as plain data.
    const hostile = `x"; touch /tmp/pwned-$$; echo "`;
    const created = await stack.admin.createJob({
      target: { tags: { role: 'web' } },
      script: { name: 'greet', version: 1 },
      params: { target: hostile, count: '3' },
    });
    expect(created.script).toEqual({ name: 'greet', version: 1 });
    expect(created.params).toEqual({ target: hostile, count: 3, dry_run: true });
    const [run] = await stack.admin.runs(created.jobId);
    const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    const output = await stack.admin.api('GET', `/api/v1/runs/${done.runId}/output`, outputPageSchema);
    const text = Buffer.concat(output.chunks.map((c) => Buffer.from(c.data, 'base64'))).toString('utf8');
    expect(text).toBe(`${hostile}|3|true\n`);

    const jobsBefore = await stack.admin.api('GET', '/api/v1/jobs', jobHistoryPageSchema);
    for (const [params, field] of [
      [{}, 'params.target'],
      [{ target: 'a', count: 9 }, 'params.count'],
      [{ target: 'a', colour: 'red' }, 'params.colour'],
    ] as const) {
      const refused = await stack.admin.request('POST', '/api/v1/jobs', {
        target: { all: true },
        script: { name: 'greet' },
        params,
      });
      expect(refused.status).toBe(400);
      expect(apiErrorSchema.parse(await refused.json())).toMatchObject({ code: 'invalid_params', field });
    }
    const missing = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { all: true },
      script: { name: 'nope' },
    });
    expect(missing.status).toBe(404);
    expect((await stack.admin.api('GET', '/api/v1/jobs', jobHistoryPageSchema)).items).toHaveLength(
      jobsBefore.items.length,
    );

    // The newest version by default; history filters by script and shows what ran.
    const latest = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      script: { name: 'greet' },
      params: { target: 'b' },
    });
    expect(latest.script).toEqual({ name: 'greet', version: 2 });
    await stack.admin.waitJob(latest.jobId, (j) => j.state === 'finished');
    const byScript = await stack.admin.api('GET', '/api/v1/jobs?scriptName=greet&limit=1', jobHistoryPageSchema);
    expect(byScript.items.map((j) => j.jobId)).toEqual([latest.jobId]);
    expect(byScript.counts.finished).toBe(2);
    expect(byScript.nextCursor).not.toBeNull();
    const next = await stack.admin.api(
      'GET',
      `/api/v1/jobs?scriptName=greet&limit=1&cursor=${byScript.nextCursor ?? ''}`,
      jobHistoryPageSchema,
    );
    expect(next.items.map((j) => j.jobId)).toEqual([created.jobId]);
    expect(next.nextCursor).toBeNull();
    const runs = await stack.admin.api(
      'GET',
      `/api/v1/runs?nodeId=${agent.nodeId}&state=succeeded`,
      runHistoryPageSchema,
    );
    expect(runs.items.map((r) => r.title)).toEqual(['greet@2', 'greet@1']);
    expect(runs.counts.succeeded).toBe(2);
    expect(
      (await stack.admin.api('GET', `/api/v1/runs?nodeId=${agent.nodeId}&state=failed`, runHistoryPageSchema)).items,
    ).toEqual([]);
    expect((await stack.admin.request('GET', '/api/v1/runs?cursor=garbage')).status).toBe(400);
    // Time bounds take epoch ms or ISO 8601.
    const tomorrow = new Date(stack.clock.now() + 86_400_000).toISOString();
    expect((await stack.admin.api('GET', `/api/v1/jobs?from=${tomorrow}`, jobHistoryPageSchema)).items).toEqual([]);
    expect(
      (await stack.admin.api('GET', `/api/v1/jobs?to=${tomorrow}&scriptName=greet`, jobHistoryPageSchema)).items,
    ).toHaveLength(2);
    expect((await stack.admin.api('GET', `/api/v1/runs?to=${created.createdAt}`, runHistoryPageSchema)).items).toEqual(
      [],
    );
    expect((await stack.admin.request('GET', '/api/v1/runs?from=yesterday')).status).toBe(400);
  });
});
