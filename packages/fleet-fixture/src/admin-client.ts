import {
  apiTokenCreatedSchema,
  jobDtoSchema,
  joinTokenCreatedSchema,
  runDtoSchema,
  sessionDtoSchema,
  userAccountDtoSchema,
  type JobCreate,
  type JobDto,
  type JoinTokenCreate,
  type Role,
  type RunDto,
} from '@edgestelle/protocol';
import { z } from 'zod';
import { openLive, type LiveClient } from './live-client.ts';
import { waitFor } from './wait-for.ts';

/** The master's REST API as one user's script sees it: a bearer token made through the API. */
export interface AdminClient {
  readonly url: string;
  readonly token: string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Parsed by `schema`; a non-2xx answer throws with the method, path, status and body. */
  api<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T>;
  /** A join token; one use, no tags, the master's default lifetime unless given. */
  joinToken(opts?: JoinTokenCreate): Promise<string>;
  createJob(job: JobCreate): Promise<JobDto>;
  runs(jobId: string): Promise<RunDto[]>;
  run(runId: string): Promise<RunDto>;
  /** A run's stored output, byte for byte. */
  rawOutput(runId: string): Promise<Buffer>;
  waitJob(jobId: string, done: (job: JobDto) => boolean, timeoutMs?: number): Promise<JobDto>;
  waitRun(runId: string, done: (run: RunDto) => boolean, timeoutMs?: number): Promise<RunDto>;
  live(): Promise<LiveClient>;
  /** A new user made through POST /api/v1/users, with a client logged in as that user. */
  createUser(
    username: string,
    role: Role,
    password?: string,
  ): Promise<{ username: string; password: string; client: AdminClient }>;
}

/** Signs in through POST /api/v1/auth/login and makes an API token with the session, as a person would. */
export async function loginClient(url: string, username: string, password: string): Promise<AdminClient> {
  // connection: close, so that signing in leaves no idle connection behind for tests that count them.
  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ username, password }),
  });
  if (login.status !== 200) throw new Error(`login as ${username} failed: ${login.status} ${await login.text()}`);
  const session = sessionDtoSchema.parse(await login.json());
  const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
  const sessionHeaders = { cookie, 'x-csrf-token': session.csrfToken ?? '', connection: 'close' };
  const created = await fetch(`${url}/api/v1/tokens`, {
    method: 'POST',
    headers: { ...sessionHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'fleet fixture' }),
  });
  if (created.status !== 201)
    throw new Error(`token for ${username} failed: ${created.status} ${await created.text()}`);
  // The token is all the client needs; a session left open would show in the tests' session lists.
  const logout = await fetch(`${url}/api/v1/auth/logout`, { method: 'POST', headers: sessionHeaders });
  if (logout.status !== 204) throw new Error(`logout of ${username} failed: ${logout.status} ${await logout.text()}`);
  return tokenClient(url, apiTokenCreatedSchema.parse(await created.json()).token);
}

function tokenClient(url: string, token: string): AdminClient {
  const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const api = async <T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> => {
    const response = await request(method, path, body);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${text}`);
    return schema.parse(text === '' ? null : JSON.parse(text));
  };
  const poll = async <T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number) => {
    let last: T | undefined;
    return waitFor(
      () => `${what}: ${JSON.stringify(last)}`,
      async () => {
        last = await read();
        return done(last) && last;
      },
      { timeoutMs },
    );
  };
  const client: AdminClient = {
    url,
    token,
    request,
    api,
    async joinToken(opts = {}) {
      return (await api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, { maxUses: 1, ...opts })).token;
    },
    createJob: (job) => api('POST', '/api/v1/jobs', jobDtoSchema, job),
    async runs(jobId) {
      return (await api('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }))).items;
    },
    run: (runId) => api('GET', `/api/v1/runs/${runId}`, runDtoSchema),
    async rawOutput(runId) {
      const response = await request('GET', `/api/v1/runs/${runId}/output/raw`);
      if (!response.ok) throw new Error(`output of ${runId} → ${response.status} ${await response.text()}`);
      return Buffer.from(await response.arrayBuffer());
    },
    waitJob: (jobId, done, timeoutMs = 20_000) =>
      poll(`job ${jobId}`, () => api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema), done, timeoutMs),
    waitRun: (runId, done, timeoutMs = 20_000) => poll(`run ${runId}`, () => client.run(runId), done, timeoutMs),
    live: () => openLive(url, { authorization: `Bearer ${token}` }),
    async createUser(username, role, password = `${username}-fixture-password`) {
      await api('POST', '/api/v1/users', userAccountDtoSchema, { username, password, role });
      return { username, password, client: await loginClient(url, username, password) };
    },
  };
  return client;
}
