import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { apiErrorSchema, apiTokenCreatedSchema, liveCloseCodes, sessionDtoSchema } from '@edgestelle/protocol';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ADMIN, liveCloseCode, openLive, startMaster, waitFor } from '@edgestelle/fleet-fixture';

const PUBLIC_ROUTES = new Set([
  'GET /healthz',
  'GET /readyz',
  'POST /api/v1/auth/login',
  'POST /api/v1/enroll',
  // `edgestelle version` answers before a login; the downloads carry the same release.
  'GET /api/v1/version',
]);

async function login(url: string): Promise<{ cookie: string; csrfToken: string; setCookie: string }> {
  const response = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN.password }),
  });
  expect(response.status).toBe(200);
  const setCookie = response.headers.get('set-cookie') ?? '';
  const session = sessionDtoSchema.parse(await response.json());
  return { cookie: setCookie.split(';')[0] ?? '', csrfToken: session.csrfToken ?? '', setCookie };
}

describe('REST API', () => {
  it('refuses the unauthenticated on every route but health, login, enroll and version', async () => {
    const routes: Array<{ method: string; url: string }> = [];
    await using stack = await startMaster({
      deps: {
        onRoute: (route) => {
          for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
        },
      },
    });
    expect(routes.length).toBeGreaterThan(20);
    const checked: string[] = [];
    for (const { method, url } of routes) {
      const path = url
        .replace(':nodeId', 'node-1')
        .replace(/:(jobId|runId|tokenId)/, '01jaaaaaaaaaaaaaaaaaaaaaaa')
        .replace('*', 'x');
      const response = await fetch(`${stack.master.url}${path}`, {
        method,
        ...(method === 'GET' || method === 'HEAD'
          ? {}
          : { headers: { 'content-type': 'application/json' }, body: '{}' }),
      });
      const key = `${method} ${url}`;
      // The console's files (everything outside /api but the metrics) load before anyone signs in.
      if (PUBLIC_ROUTES.has(key) || (!url.startsWith('/api/') && url !== '/metrics')) {
        expect(response.status, key).not.toBe(401);
      } else {
        expect(response.status, key).toBe(401);
        expect(apiErrorSchema.parse(await response.json()).code, key).toBe('unauthenticated');
      }
      checked.push(key);
    }
    expect(checked).toContain('POST /api/v1/jobs');
    expect(checked).toContain('GET /api/v1/live');
    expect(checked).toContain('GET /api/docs/json');
    // A bad bearer token is no better than none.
    const bad = await fetch(`${stack.master.url}/api/v1/nodes`, { headers: { authorization: 'Bearer est_nope' } });
    expect(bad.status).toBe(401);
  });

  it('documents every API route in the OpenAPI description, with its method and a success response', async () => {
    const routes = new Set<string>();
    await using stack = await startMaster({
      deps: {
        onRoute: (route) => {
          for (const method of [route.method].flat()) if (method !== 'HEAD') routes.add(`${method} ${route.url}`);
        },
      },
    });
    const openapi = z
      .object({
        paths: z.record(z.string(), z.record(z.string(), z.object({ responses: z.record(z.string(), z.unknown()) }))),
      })
      .parse(await (await stack.admin.request('GET', '/api/docs/json')).json());
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(openapi.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
        expect(
          Object.keys(operation.responses).some((code) => /^(2\d\d|101)$/.test(code)),
          `${method} ${path}`,
        ).toBe(true);
      }
    }
    // The API is everything under /api/v1 plus health and metrics; the docs and console files are not.
    const api = [...routes].filter((r) => /^\w+ (\/api\/v1\/|\/healthz$|\/readyz$|\/metrics$)/.test(r));
    expect(api.length).toBeGreaterThan(45);
    expect(api.filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !routes.has(r))).toEqual([]);
  });

  it('sets an HttpOnly SameSite=Strict session cookie and needs the CSRF token for cookie writes', async () => {
    await using stack = await startMaster();
    const { cookie, csrfToken, setCookie } = await login(stack.master.url);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const me = await fetch(`${stack.master.url}/api/v1/auth/me`, { headers: { cookie } });
    expect(sessionDtoSchema.parse(await me.json()).user.role).toBe('admin');
    const body = JSON.stringify({ ttlSec: 3600 });
    const forged = await fetch(`${stack.master.url}/api/v1/join-tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body,
    });
    expect(forged.status).toBe(403);
    expect(apiErrorSchema.parse(await forged.json()).code).toBe('csrf_failed');
    const ok = await fetch(`${stack.master.url}/api/v1/join-tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrfToken },
      body,
    });
    expect(ok.status).toBe(201);
    const wrong = await fetch(`${stack.master.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'not-it' }),
    });
    expect(wrong.status).toBe(401);
    await fetch(`${stack.master.url}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    expect((await fetch(`${stack.master.url}/api/v1/auth/me`, { headers: { cookie } })).status).toBe(401);
  });

  it('marks the session cookie Secure when the console is served over https', async () => {
    await using stack = await startMaster({ config: { publicUrl: 'https://edgestelle.example.com' } });
    const { setCookie } = await login(stack.master.url);
    expect(setCookie).toMatch(/;\s*Secure/i);
  });

  it('checks roles, and a revoked API token stops working at once', async () => {
    await using stack = await startMaster();
    const viewer = await stack.master.auth.createUser('vera', 'viewer-password', 'viewer');
    const { token } = await stack.master.auth.createApiToken(viewer.userId, 'vera', null);
    const asViewer = (method: string, path: string, body?: unknown) =>
      fetch(`${stack.master.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await asViewer('GET', '/api/v1/nodes')).status).toBe(200);
    const denied = await asViewer('POST', '/api/v1/jobs', {
      target: { all: true },
      spec: { command: 'true', timeoutMs: 1000 },
    });
    expect(denied.status).toBe(403);
    expect(apiErrorSchema.parse(await denied.json()).code).toBe('forbidden');
    expect((await asViewer('GET', '/api/v1/join-tokens')).status).toBe(403);
    const created = await asViewer('POST', '/api/v1/tokens', { name: 'second' });
    expect(created.status).toBe(201);
    const second = apiTokenCreatedSchema.parse(await created.json());
    const list = await asViewer('GET', '/api/v1/tokens');
    expect(await list.json()).toMatchObject({ items: [{ name: 'second' }, { name: 'vera' }] });
    expect((await asViewer('DELETE', `/api/v1/tokens/${second.tokenId}`)).status).toBe(204);
    const revoked = await fetch(`${stack.master.url}/api/v1/nodes`, {
      headers: { authorization: `Bearer ${second.token}` },
    });
    expect(revoked.status).toBe(401);
  });

  it('answers bad input with 4xx naming the field and changes nothing', async () => {
    await using stack = await startMaster();
    const invalid = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { all: true },
      spec: { command: 'true', timeoutMs: -5 },
    });
    expect(invalid.status).toBe(400);
    const error = apiErrorSchema.parse(await invalid.json());
    expect(error.code).toBe('invalid_request');
    expect(error.field).toBe('spec.timeoutMs');
    const unknown = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { nodeIds: ['ghost-1', 'ghost-2'] },
      spec: { command: 'true', timeoutMs: 1000 },
    });
    expect(unknown.status).toBe(400);
    const unknownError = apiErrorSchema.parse(await unknown.json());
    expect(unknownError.code).toBe('unknown_nodes');
    expect(unknownError.message).toContain('ghost-1, ghost-2');
    const none = await stack.admin.request('POST', '/api/v1/jobs', {
      target: { all: true },
      spec: { command: 'true', timeoutMs: 1000 },
    });
    expect(apiErrorSchema.parse(await none.json()).code).toBe('no_matching_nodes');
    const jobs = await stack.master.store.db.selectFrom('jobs').select('job_id').execute();
    expect(jobs).toEqual([]);
    const enroll = await fetch(`${stack.master.url}/api/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'esj_forged', nodeId: 'edge-1', name: 'edge-1' }),
    });
    expect(enroll.status).toBe(403);
    expect(apiErrorSchema.parse(await enroll.json()).code).toBe('join_token_invalid');
    expect((await stack.admin.request('GET', '/api/v1/runs/not-an-id')).status).toBe(400);
    expect((await stack.admin.request('GET', '/api/v1/runs/01jaaaaaaaaaaaaaaaaaaaaaaa')).status).toBe(404);
  });

  it('serves health, readiness and OpenAPI', async () => {
    await using stack = await startMaster({ db: 'postgres', broker: 'embedded' });
    expect(await (await fetch(`${stack.master.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${stack.master.url}/readyz`)).json()).toEqual({
      ready: true,
      database: true,
      broker: true,
    });
    const docs = await stack.admin.request('GET', '/api/docs/json');
    const openapi = (await docs.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toContain('/api/v1/jobs');
  });

  it('serves the console with an SPA fallback without shadowing the live hub, and checks the Origin of cookie sessions', async () => {
    await using dir = await tempDir();
    const publicDir = join(dir.path, 'public');
    await mkdir(publicDir);
    await writeFile(join(publicDir, 'index.html'), '<!doctype html><title>console</title>');
    await using stack = await startMaster({ deps: { publicDir } });
    const deep = await fetch(`${stack.master.url}/jobs/123/runs`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('console');
    const missingApi = await stack.admin.request('GET', '/api/v1/nothing-here');
    expect(missingApi.status).toBe(404);
    const live = await stack.admin.live();
    live.send({ type: 'subscribe', topic: 'nodes' });
    await live.close();

    const { cookie } = await login(stack.master.url);
    const fromUs = await openLive(stack.master.url, { cookie, origin: stack.master.url });
    await fromUs.close();
    // The upgrade opens and is closed with a code a browser can read (it cannot read an HTTP status).
    expect(await liveCloseCode(stack.master.url, { cookie, origin: 'https://evil.example' })).toBe(
      liveCloseCodes.forbiddenOrigin,
    );
    expect(await liveCloseCode(stack.master.url, {})).toBe(liveCloseCodes.unauthenticated);
    expect(await liveCloseCode(stack.master.url, { authorization: 'Bearer est_nope' })).toBe(
      liveCloseCodes.unauthenticated,
    );
  });

  it('closes a client that stops reading with 4408 while a reader at its own pace gets everything', async () => {
    await using stack = await startMaster({
      deps: {
        liveMaxBufferedBytes: 64 * 1024,
        liveReplayStallMs: 1000,
      },
    });
    const agent = await stack.startAgent('edge-1');
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'head -c 16000000 /dev/zero | tr "\\0" "x"', timeoutMs: 60_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);
    // A client that stops reading: a raw socket does the upgrade, subscribes, then pauses.
    const { port } = new URL(stack.master.url);
    const slow = connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => slow.once('connect', resolve));
    slow.write(
      [
        'GET /api/v1/live HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        `Authorization: Bearer ${stack.admin.token}`,
        '',
        '',
      ].join('\r\n'),
    );
    await new Promise((resolve) => slow.once('data', resolve));
    slow.pause();
    slow.write(maskedTextFrame(JSON.stringify({ type: 'subscribe', topic: 'run', runId: done.runId, fromSeq: 0 })));
    await waitFor('the slow client closed', () => stack.master.hub.slowClientsClosed === 1, { timeoutMs: 20_000 });
    // Its close frame (opcode 0x88) carries 4408 (0x1138) once it reads again.
    let received = Buffer.alloc(0);
    slow.on('data', (b: Buffer) => (received = Buffer.concat([received, b])));
    slow.resume();
    await waitFor('a close frame with 4408', () => hasCloseFrame(received, 0x1138), { timeoutMs: 20_000 });
    slow.destroy();
    expect(liveCloseCodes.tooSlow).toBe(0x1138);
    const again = await stack.admin.live();
    again.send({ type: 'subscribe', topic: 'run', runId: done.runId, fromSeq: 0 });
    await waitFor('all chunks', () => again.output(done.runId).nextSeq >= done.chunkCount, { timeoutMs: 20_000 });
    expect(again.output(done.runId).bytes.length).toBe(16_000_000);
    await again.close();
  });
});

/** A client-to-server text frame (masked, as RFC 6455 requires of clients). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([header, mask, masked]);
}

/** A server close frame (opcode 0x88, short payload) carrying this status code. */
function hasCloseFrame(bytes: Buffer, code: number): boolean {
  for (let i = bytes.indexOf(0x88); i !== -1 && i + 3 < bytes.length; i = bytes.indexOf(0x88, i + 1)) {
    if (bytes.readUInt16BE(i + 2) === code) return true;
  }
  return false;
}
