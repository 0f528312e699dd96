import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { enroll, loadConfig, createAgent, type Agent } from '@edgestelle/agent';
import {
  apiTokenCreatedSchema,
  runDtoSchema,
  jobDtoSchema,
  sessionDtoSchema,
  type JobCreate,
  type JobDto,
  type RunDto,
} from '@edgestelle/protocol';
import { pino } from 'pino';
import { z } from 'zod';
import { waitFor } from '../support/stack.ts';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const entry = fileURLToPath(new URL('./fixtures/master-main.ts', import.meta.url));

export const CHILD_ADMIN_PASSWORD = 'fault-suite-admin';

/**
 * `edgestelle master` as its own process, configured by EDGESTELLE_* variables, that a test
 * can SIGKILL and start again on the same HTTP port and data. {@link MasterProcess.start}
 * waits until /readyz answers 200.
 */
export class MasterProcess {
  private child: ChildProcess | undefined;
  private output = '';
  private token: string | undefined;

  constructor(
    readonly httpPort: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    return this.output;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child !== undefined) throw new Error('the master process is already running');
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry], {
      cwd: repoRoot,
      env: {
        ...process.env,
        EDGESTELLE_HTTP_PORT: String(this.httpPort),
        EDGESTELLE_ADMIN_PASSWORD: CHILD_ADMIN_PASSWORD,
        EDGESTELLE_LOG_LEVEL: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (data: Buffer) => (this.output += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (this.output += data.toString()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the master exited with ${child.exitCode}:\n${this.output}`);
        return (await this.readyz()) === 200;
      },
      timeoutMs,
      () => `the master to be ready:\n${this.output}`,
    );
  }

  /** SIGKILL, as a crash: nothing the process holds in memory survives. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await gone;
  }

  /** /readyz status, or 0 when nothing answers. */
  async readyz(): Promise<number> {
    try {
      return (await fetch(`${this.url}/readyz`)).status;
    } catch (err) {
      if (err instanceof TypeError) return 0;
      throw err;
    }
  }

  /** An admin API token, made once through login + the tokens route as a user would. */
  async apiToken(): Promise<string> {
    if (this.token !== undefined) return this.token;
    const login = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: CHILD_ADMIN_PASSWORD }),
    });
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const session = sessionDtoSchema.parse(await login.json());
    const created = await fetch(`${this.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': session.csrfToken ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'fault suite' }),
    });
    if (created.status !== 201) throw new Error(`token failed: ${created.status} ${await created.text()}`);
    this.token = apiTokenCreatedSchema.parse(await created.json()).token;
    return this.token;
  }

  async request(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.apiToken()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async api<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const response = await this.request(method, path, body);
    const json: unknown = await response.json();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(json)}`);
    return schema.parse(json);
  }

  createJob(job: JobCreate): Promise<JobDto> {
    return this.api('POST', '/api/v1/jobs', jobDtoSchema, job);
  }

  run(runId: string): Promise<RunDto> {
    return this.api('GET', `/api/v1/runs/${runId}`, runDtoSchema);
  }

  async runs(jobId: string): Promise<RunDto[]> {
    return (await this.api('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }))).items;
  }

  async waitRun(runId: string, done: (run: RunDto) => boolean, timeoutMs = 60_000): Promise<RunDto> {
    let last: RunDto | undefined;
    await waitFor(
      async () => {
        last = await this.run(runId);
        return done(last);
      },
      timeoutMs,
      () => `run ${runId}: ${JSON.stringify(last)}\n${this.output.slice(-4000)}`,
    );
    if (last === undefined) throw new Error('unreachable');
    return last;
  }

  async rawOutput(runId: string): Promise<Buffer> {
    const response = await this.request('GET', `/api/v1/runs/${runId}/output/raw`);
    if (!response.ok) throw new Error(`output of ${runId}: ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }

  /** A real agent in this process, enrolled with a join token, talking to `mqttUrl` if given. */
  async agent(nodeId: string, stateDir: string): Promise<Agent> {
    const { token } = await this.api('POST', '/api/v1/join-tokens', z.object({ token: z.string() }), {
      tags: {},
      maxUses: 1,
    });
    const { credentials } = await enroll({ masterUrl: this.url, token, stateDir, nodeId, name: nodeId });
    const agent = createAgent(loadConfig({ flags: { stateDir, logLevel: 'warn' }, env: {}, credentials }), {
      logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent' }),
      backoff: { initialMs: 50, maxMs: 500 },
      ackTimeoutMs: 1500,
    });
    await agent.start();
    return agent;
  }
}
