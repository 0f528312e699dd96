import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startMaster } from '@edgestelle/fleet-fixture';

const EXPECTED = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** What the policy must hold: no inline or evaluated script, nothing from another origin, no framing. */
function checkPolicy(policy: string | null, what: string): void {
  expect(policy, what).not.toBeNull();
  const directives = new Map(
    (policy ?? '').split(';').map((d) => {
      const [name = '', ...values] = d.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );
  expect(directives.get('default-src'), what).toEqual(["'none'"]);
  expect(directives.get('script-src'), what).toEqual(["'self'"]);
  expect(directives.get('frame-ancestors'), what).toEqual(["'none'"]);
  expect(directives.get('connect-src'), what).toEqual(["'self'"]);
  for (const [name, values] of directives) {
    // Only our origin (and data: images); never a host, a scheme wildcard or eval.
    for (const value of values) {
      expect(["'self'", "'none'", "'unsafe-inline'", 'data:'], `${what}: ${name} ${value}`).toContain(value);
    }
    if (values.includes("'unsafe-inline'")) expect(name, what).toBe('style-src');
    if (values.includes('data:')) expect(name, what).toBe('img-src');
  }
}

function checkHeaders(headers: Headers, what: string): void {
  for (const [name, value] of Object.entries(EXPECTED)) expect(headers.get(name), `${what}: ${name}`).toBe(value);
  checkPolicy(headers.get('content-security-policy'), what);
}

/** One request written by hand on a socket; the raw answer. */
async function rawExchange(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (data: Buffer) => chunks.push(data));
  const closed = new Promise<void>((resolve, reject) => {
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  socket.write(request);
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

function rawHeaders(answer: string): Headers {
  const head = answer.split('\r\n\r\n')[0] ?? '';
  const headers = new Headers();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

describe('security headers', () => {
  it('are on every kind of answer: each route with and without credentials, files, errors, 404s, docs, metrics', async () => {
    await using dir = await tempDir();
    const publicDir = join(dir.path, 'public');
    await mkdir(join(publicDir, 'assets'), { recursive: true });
    await writeFile(join(publicDir, 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(join(publicDir, 'assets', 'app.js'), 'export {};\n');
    const routes: Array<{ method: string; url: string }> = [];
    await using stack = await startMaster({
      deps: {
        publicDir,
        onRoute: (route) => {
          for (const method of [route.method].flat()) routes.push({ method, url: route.url });
        },
      },
    });
    const url = stack.master.url;
    const seen = new Set<number>();
    const check = async (what: string, send: () => Promise<Response>): Promise<Response> => {
      const answer = await send();
      await answer.arrayBuffer();
      seen.add(answer.status);
      checkHeaders(answer.headers, `${what} → ${answer.status}`);
      return answer;
    };

    expect(routes.length).toBeGreaterThan(40);
    for (const { method, url: route } of routes) {
      const path = route
        .replace(':nodeId', 'node-1')
        .replace(/:(jobId|runId|tokenId|userId|name|version)/g, '01jaaaaaaaaaaaaaaaaaaaaaaa')
        .replace('*', 'x');
      const body =
        method === 'GET' || method === 'HEAD' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' };
      await check(`${method} ${route} anonymous`, () => fetch(`${url}${path}`, { method, ...body }));
      await check(`${method} ${route} as admin`, () =>
        stack.admin.request(method, path, method === 'GET' || method === 'HEAD' ? undefined : {}),
      );
    }

    const named: Array<[string, () => Promise<Response>, number]> = [
      ['console page', () => fetch(`${url}/`), 200],
      ['console file', () => fetch(`${url}/assets/app.js`), 200],
      ['console route (index.html)', () => fetch(`${url}/jobs/01jaaaaaaaaaaaaaaaaaaaaaaa`), 200],
      ['HEAD console page', () => fetch(`${url}/`, { method: 'HEAD' }), 200],
      ['unknown API route', () => stack.admin.request('GET', '/api/v1/nope'), 404],
      ['unknown method', () => fetch(`${url}/api/v1/nodes`, { method: 'OPTIONS' }), 404],
      ['health', () => fetch(`${url}/healthz`), 200],
      ['readiness', () => fetch(`${url}/readyz`), 200],
      ['metrics without token', () => fetch(`${url}/metrics`), 401],
      ['metrics', () => stack.admin.request('GET', '/metrics'), 200],
      ['API docs page', () => stack.admin.request('GET', '/api/docs'), 200],
      ['API docs page with slash', () => stack.admin.request('GET', '/api/docs/'), 200],
      ['API docs script', () => stack.admin.request('GET', '/api/docs/static/swagger-initializer.js'), 200],
      ['API docs bundle', () => stack.admin.request('GET', '/api/docs/static/swagger-ui-bundle.js'), 200],
      ['API description', () => stack.admin.request('GET', '/api/docs/json'), 200],
      ['API answer', () => stack.admin.request('GET', '/api/v1/nodes'), 200],
      ['validation error', () => stack.admin.request('GET', '/api/v1/runs?limit=0'), 400],
      [
        'malformed JSON',
        () => stack.admin.request('POST', '/api/v1/jobs', undefined, { 'content-type': 'application/json' }),
        400,
      ],
      [
        'unsupported body type',
        () =>
          fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
        400,
      ],
      [
        'body too large',
        () =>
          fetch(`${url}/api/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'x'.repeat(2 * 1024 * 1024), password: 'y' }),
          }),
        413,
      ],
      ['bad URL encoding', () => stack.admin.request('GET', '/api/v1/nodes/%E0%A4%A'), 400],
      ['live hub without upgrade', () => stack.admin.request('GET', '/api/v1/live'), 400],
    ];
    for (const [what, send, status] of named) expect((await check(what, send)).status, what).toBe(status);
    expect([...seen]).toEqual(expect.arrayContaining([200, 400, 401, 404, 413]));

    // Answers Node's HTTP parser gives before any route or hook: a malformed request.
    const port = Number(new URL(url).port);
    const malformed = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    expect(malformed).toMatch(/^HTTP\/1\.1 400 /);
    checkHeaders(rawHeaders(malformed), 'malformed request');
    const oversized = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(oversized).toMatch(/^HTTP\/1\.1 431 /);
    checkHeaders(rawHeaders(oversized), 'oversized headers');
  }, 60_000);
});
