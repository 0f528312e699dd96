/**
 * Issue 10: what a hostile web page or a stranger on the network can try against the console's
 * endpoints, at volume. api.test.ts checks one refusal of each kind; here every write route the
 * router has is tried with the session cookie alone, from foreign origins, with wrong and
 * borrowed CSRF tokens and as a form post, and the live hub is opened many times without
 * credentials, with bad ones, and with the cookie from foreign origins or none. Each attempt
 * must be refused with the right code, nothing in the store may change (every table hashed
 * before and after), and a refused live socket must carry no data (it subscribes at once).
 *
 * CI size by default; `EDGESTELLE_FAULT_SCALE=long` repeats every attempt more often.
 */
import { apiErrorSchema, liveCloseCodes, liveServerMessageSchema, sessionDtoSchema } from '@edgestelle/protocol';
import { metricSum, recordFault, sha256, sized } from '@edgestelle/testkit';
import { sql } from 'kysely';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { ADMIN, type InProcessMaster, startMaster } from '@edgestelle/fleet-fixture';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Public writes: they need no session, so there is nothing to forge. */
const PUBLIC_WRITES = new Set(['POST /api/v1/auth/login', 'POST /api/v1/enroll']);

async function login(url: string): Promise<{ cookie: string; csrfToken: string }> {
  const response = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN.password }),
  });
  if (response.status !== 200) throw new Error(`login: ${response.status}`);
  const session = sessionDtoSchema.parse(await response.json());
  return {
    cookie: (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
    csrfToken: session.csrfToken ?? '',
  };
}

/** Every table's rows, hashed: what a refused request must leave exactly as it was. */
async function storeFingerprint(stack: InProcessMaster): Promise<Record<string, string>> {
  const db = stack.master.store.db;
  const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`.execute(
    db,
  );
  const fingerprint: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(name)}`.execute(db);
    fingerprint[name] = sha256(JSON.stringify(rows.rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return fingerprint;
}

/**
 * Opens the live hub, subscribes to everything the moment it opens, and waits for the server
 * to close: the close code and whatever arrived before it.
 */
function attemptLive(url: string, headers: Record<string, string>): Promise<{ code: number; received: number }> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  let received = 0;
  socket.on('message', (data: Buffer) => {
    liveServerMessageSchema.parse(JSON.parse(data.toString('utf8')));
    received += 1;
  });
  socket.once('open', () => {
    for (const message of [
      { type: 'subscribe', topic: 'nodes' },
      { type: 'subscribe', topic: 'job', jobId: '01jaaaaaaaaaaaaaaaaaaaaaaa' },
    ])
      socket.send(JSON.stringify(message));
  });
  return new Promise((resolve, reject) => {
    // A socket the server neither refuses nor serves is a failure, not a hang.
    const timer = setTimeout(() => {
      socket.terminate();
      resolve({ code: -1, received });
    }, 10_000);
    socket.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, received });
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`live upgrade refused: HTTP ${res.statusCode}`)),
    );
  });
}

describe('web attacks on the console endpoints', () => {
  it('CSRF: every cookie-authenticated write without the right token is refused and changes nothing', async () => {
    const routes: Array<{ method: string; url: string }> = [];
    await using stack = await startMaster({
      deps: {
        onRoute: (route) => {
          for (const method of [route.method].flat())
            if (WRITE_METHODS.has(method)) routes.push({ method, url: route.url });
        },
      },
    });
    const victim = await login(stack.master.url);
    const other = await login(stack.master.url);
    const node = 'csrf-node';
    const paths = (url: string) =>
      url
        .replace(':nodeId', node)
        .replace(':name', 'deploy')
        .replace(/:(jobId|runId|tokenId|userId|sessionId)/, '01jaaaaaaaaaaaaaaaaaaaaaaa');
    const attacks: Array<{ name: string; headers: Record<string, string>; body: string }> = [
      { name: 'cookie only', headers: { 'content-type': 'application/json' }, body: '{}' },
      {
        name: 'foreign origin',
        headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
        body: '{}',
      },
      { name: 'null origin', headers: { origin: 'null', 'content-type': 'application/json' }, body: '{}' },
      {
        name: 'form post',
        headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'role=admin&username=mallory',
      },
      {
        name: 'text/plain',
        headers: { 'content-type': 'text/plain' },
        body: '{"target":{"all":true},"spec":{"command":"id"}}',
      },
      {
        name: 'wrong token',
        headers: { 'x-csrf-token': 'x'.repeat(victim.csrfToken.length), 'content-type': 'application/json' },
        body: '{}',
      },
      { name: 'empty token', headers: { 'x-csrf-token': '', 'content-type': 'application/json' }, body: '{}' },
      {
        name: "another session's token",
        headers: { 'x-csrf-token': other.csrfToken, 'content-type': 'application/json' },
        body: '{}',
      },
      { name: 'token in the query', headers: { 'content-type': 'application/json' }, body: '{}' },
    ];
    const rounds = sized(2, 20);
    const before = await storeFingerprint(stack);
    const wrong: string[] = [];
    let tried = 0;
    for (let round = 0; round < rounds; round += 1) {
      for (const { method, url } of routes) {
        if (!url.startsWith('/api/') || PUBLIC_WRITES.has(`${method} ${url}`)) continue;
        for (const attack of attacks) {
          const query =
            attack.name === 'token in the query' ? `?csrfToken=${victim.csrfToken}&_csrf=${victim.csrfToken}` : '';
          const response = await fetch(`${stack.master.url}${paths(url)}${query}`, {
            method,
            headers: { cookie: victim.cookie, ...attack.headers },
            body: attack.body,
          });
          tried += 1;
          const text = await response.text();
          const code = text.startsWith('{') ? apiErrorSchema.safeParse(JSON.parse(text)).data?.code : undefined;
          if (response.status !== 403 || code !== 'csrf_failed')
            wrong.push(`${method} ${url} (${attack.name}): ${response.status} ${text.slice(0, 120)}`);
        }
      }
    }
    const after = await storeFingerprint(stack);
    // The victim's session still works: the attacks did not log it out either.
    const me = await fetch(`${stack.master.url}/api/v1/auth/me`, { headers: { cookie: victim.cookie } });
    recordFault({
      scenario: 'CSRF: cookie writes without the right token',
      load: `${routes.length} write routes x ${attacks.length} variants x ${rounds}`,
      faults: 'cookie only, foreign/null Origin, form and text posts, wrong/empty/borrowed token, token in query',
      badInputs: tried,
      lost: 0,
      doubled: 0,
      observed: {
        accepted: wrong.length,
        tablesChanged: Object.keys(before)
          .filter((t) => before[t] !== after[t])
          .join(','),
      },
    });
    expect(tried).toBeGreaterThan(100);
    expect(wrong).toEqual([]);
    expect(after).toEqual(before);
    expect(me.status).toBe(200);
  }, 180_000);

  it('the live hub: no credentials, bad ones, or the cookie from a foreign or missing Origin — closed 4401/4403, no data', async () => {
    await using stack = await startMaster();
    const url = stack.master.url;
    const { cookie } = await login(url);
    const port = new URL(url).port;
    const foreignOrigins = [
      'https://evil.example',
      'null',
      `http://127.0.0.1:${Number(port) + 1}`,
      `https://127.0.0.1:${port}`,
      `http://127.0.0.1:${port}.evil.example`,
      `http://evil.example/?http://127.0.0.1:${port}`,
      `HTTP://127.0.0.1:${port}`,
      `http://127.0.0.1:${port}/`,
    ];
    const attempts: Array<{ name: string; headers: Record<string, string>; expected: number }> = [
      { name: 'nothing', headers: {}, expected: liveCloseCodes.unauthenticated },
      { name: 'bad bearer', headers: { authorization: 'Bearer est_nope' }, expected: liveCloseCodes.unauthenticated },
      {
        name: 'bearer of another scheme',
        headers: { authorization: `Basic ${Buffer.from('admin:x').toString('base64')}` },
        expected: liveCloseCodes.unauthenticated,
      },
      {
        name: 'forged cookie',
        headers: { cookie: `${cookie.split('=')[0] ?? 'x'}=forged`, origin: url },
        expected: liveCloseCodes.unauthenticated,
      },
      { name: 'cookie, no Origin', headers: { cookie }, expected: liveCloseCodes.forbiddenOrigin },
      ...foreignOrigins.map((origin) => ({
        name: `cookie from ${origin}`,
        headers: { cookie, origin },
        expected: liveCloseCodes.forbiddenOrigin,
      })),
    ];
    const rounds = sized(20, 200);
    const wrong: string[] = [];
    let tried = 0;
    let received = 0;
    for (let round = 0; round < rounds; round += 1) {
      // A burst at a time, as a page or a script would open them.
      const results = await Promise.all(attempts.map((a) => attemptLive(url, a.headers).then((r) => ({ a, r }))));
      for (const { a, r } of results) {
        tried += 1;
        received += r.received;
        if (r.code !== a.expected) wrong.push(`${a.name}: closed ${r.code}, expected ${a.expected}`);
      }
    }
    const metrics = await (await stack.admin.request('GET', '/metrics')).text();
    const clients = metricSum(metrics, 'edgestelle_websocket_clients');
    // The same cookie from our own origin, and a bearer token from anywhere (it is not ambient), open.
    const own = await attemptLiveOpen(url, { cookie, origin: url });
    const bearer = await attemptLiveOpen(url, {
      authorization: `Bearer ${stack.admin.token}`,
      origin: 'https://evil.example',
    });
    recordFault({
      scenario: 'live hub upgrades without credentials or from foreign origins',
      load: `${attempts.length} kinds x ${rounds}`,
      faults: 'none, bad bearer, Basic, forged cookie, cookie without Origin, cookie from 8 foreign origins',
      badInputs: tried,
      lost: 0,
      doubled: 0,
      observed: { wrongCloseCodes: wrong.length, messagesOnRefusedSockets: received, websocketClientsAfter: clients },
    });
    expect(wrong).toEqual([]);
    expect(received).toBe(0);
    expect(clients).toBe(0);
    expect(own).toBe(true);
    expect(bearer).toBe(true);
  }, 180_000);
});

/** Whether the hub accepts the socket: it answers a subscription. */
async function attemptLiveOpen(url: string, headers: Record<string, string>): Promise<boolean> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  const answered = await new Promise<boolean>((resolve, reject) => {
    setTimeout(() => resolve(false), 10_000);
    // A job that does not exist: an open hub answers with an error message, a refused one not at all.
    socket.once('open', () =>
      socket.send(JSON.stringify({ type: 'subscribe', topic: 'job', jobId: '01jaaaaaaaaaaaaaaaaaaaaaaa' })),
    );
    socket.once('message', () => resolve(true));
    socket.once('close', () => resolve(false));
    socket.once('error', reject);
  });
  await new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once('close', () => resolve());
    socket.close();
  });
  return answered;
}
