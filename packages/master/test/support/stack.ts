import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import {
  jobDtoSchema,
  runDtoSchema,
  liveServerMessageSchema,
  type JobCreate,
  type JobDto,
  type LiveClientMessage,
  type LiveServerMessage,
  type RunDto,
} from '@edgestelle/protocol';
import {
  freshPostgresDatabase,
  startMosquitto,
  tempDir,
  type FreshDatabase,
  type Mosquitto,
  type TempDir,
} from '@edgestelle/testkit';
import { pino } from 'pino';
import WebSocket from 'ws';
import { z } from 'zod';
import { configFrom, createMaster, type Master, type MasterDeps } from '../../src/index.ts';

export type DbKind = 'sqlite' | 'postgres';
export type BrokerKind = 'embedded' | 'mosquitto' | 'mosquitto-dynsec';

export const ADMIN_PASSWORD = 'correct-horse-battery';

/** Time the master sees: real time plus an offset a test can move forward. */
export class TestClock {
  offsetMs = 0;
  now = (): number => Date.now() + this.offsetMs;
}

export interface Stack extends AsyncDisposable {
  master: Master;
  databaseUrl: string;
  mqttUrl: string | undefined;
  clock: TestClock;
  dir: string;
  /** An admin API token. */
  token: string;
  api<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T>;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  joinToken(tags?: Record<string, string>, maxUses?: number | null): Promise<string>;
  /** A real agent (createAgent from @edgestelle/agent), enrolled through the API. */
  agent(name: string, tags?: Record<string, string>, settings?: Record<string, string>): Promise<TestAgent>;
  live(): Promise<LiveClient>;
  createJob(job: JobCreate): Promise<JobDto>;
  waitRun(runId: string, done: (run: RunDto) => boolean, timeoutMs?: number): Promise<RunDto>;
  waitJob(jobId: string, done: (job: JobDto) => boolean, timeoutMs?: number): Promise<JobDto>;
  runs(jobId: string): Promise<RunDto[]>;
}

export interface TestAgent {
  readonly nodeId: string;
  readonly stateDir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(
  db: DbKind,
  brokerKind: BrokerKind,
  deps: MasterDeps = {},
  extraConfig: Parameters<typeof configFrom>[0] = {},
): Promise<Stack> {
  const dir: TempDir = await tempDir('edgestelle-master-');
  let pgDb: FreshDatabase | undefined;
  let mosquitto: Mosquitto | undefined;
  const agents: TestAgent[] = [];
  let master: Master | undefined;
  const clock = new TestClock();
  const dispose = async (): Promise<void> => {
    for (const agent of agents) await agent.stop();
    await master?.close();
    await mosquitto?.[Symbol.asyncDispose]();
    await pgDb?.[Symbol.asyncDispose]();
    await dir[Symbol.asyncDispose]();
  };
  try {
    if (db === 'postgres') pgDb = await freshPostgresDatabase();
    let mqttUrl: string | undefined;
    if (brokerKind === 'mosquitto') {
      mosquitto = await startMosquitto();
      mqttUrl = mosquitto.url;
    } else if (brokerKind === 'mosquitto-dynsec') {
      mosquitto = await startDynsecMosquitto(dir.path);
      mqttUrl = `mqtt://${encodeURIComponent(DYNSEC_MASTER.username)}:${DYNSEC_MASTER.password}@127.0.0.1:${mosquitto.port}`;
    }
    const config = configFrom({
      dataDir: join(dir.path, 'master'),
      httpPort: '0',
      mqttPort: brokerKind === 'embedded' ? '0' : undefined,
      mqttUrl,
      databaseUrl: pgDb?.url,
      adminPassword: ADMIN_PASSWORD,
      logLevel: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'error',
      ...extraConfig,
    });
    master = await createMaster(config, {
      clock,
      sweepIntervalMs: 0,
      ingestFlushIntervalMs: 10,
      logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'error' }),
      ...deps,
    });
    const m = master;
    const users = await m.store.db
      .selectFrom('users')
      .select('user_id')
      .where('username', '=', 'admin')
      .executeTakeFirstOrThrow();
    const { token } = await m.auth.createApiToken(users.user_id, 'tests', null);

    const request = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(`${m.url}${path}`, {
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
      const json: unknown = await response.json();
      if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(json)}`);
      return schema.parse(json);
    };
    const joinToken = async (tags: Record<string, string> = {}, maxUses: number | null = 1): Promise<string> =>
      (await api('POST', '/api/v1/join-tokens', z.object({ token: z.string() }), { tags, maxUses })).token;

    const stack: Stack = {
      master: m,
      databaseUrl: config.databaseUrl,
      mqttUrl,
      clock,
      dir: dir.path,
      token,
      api,
      request,
      joinToken,
      async agent(name, tags = {}, settings = {}) {
        const stateDir = join(dir.path, 'agents', name);
        const { credentials } = await enroll({
          masterUrl: m.url,
          token: await joinToken(tags),
          stateDir,
          nodeId: name,
          name,
        });
        const config = loadConfig({ flags: { stateDir, logLevel: 'warn', ...settings }, env: {}, credentials });
        let running: Agent | undefined;
        const agent: TestAgent = {
          nodeId: credentials.nodeId,
          stateDir,
          async start() {
            if (running !== undefined) return;
            running = createAgent(config, {
              logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent' }),
              backoff: { initialMs: 50, maxMs: 500 },
              ackTimeoutMs: 1500,
            });
            await running.start();
          },
          async stop() {
            const current = running;
            running = undefined;
            await current?.stop();
          },
        };
        agents.push(agent);
        await agent.start();
        await waitFor(async () => (await m.nodes.get(agent.nodeId)).online, 15_000, `${name} online`);
        return agent;
      },
      async live() {
        return openLive(m.url, { authorization: `Bearer ${token}` });
      },
      createJob: (job) => api('POST', '/api/v1/jobs', jobDtoSchema, job),
      async waitRun(runId, done, timeoutMs = 20_000) {
        let last: RunDto | undefined;
        await waitFor(
          async () => {
            last = await api('GET', `/api/v1/runs/${runId}`, runDtoSchema);
            return done(last);
          },
          timeoutMs,
          () => `run ${runId}: ${JSON.stringify(last)}`,
        );
        if (last === undefined) throw new Error('unreachable');
        return last;
      },
      async waitJob(jobId, done, timeoutMs = 20_000) {
        let last: JobDto | undefined;
        await waitFor(
          async () => {
            last = await api('GET', `/api/v1/jobs/${jobId}`, jobDtoSchema);
            return done(last);
          },
          timeoutMs,
          () => `job ${jobId}: ${JSON.stringify(last)}`,
        );
        if (last === undefined) throw new Error('unreachable');
        return last;
      },
      async runs(jobId) {
        return (await api('GET', `/api/v1/jobs/${jobId}/runs`, z.object({ items: z.array(runDtoSchema) }))).items;
      },
      [Symbol.asyncDispose]: dispose,
    };
    return stack;
  } catch (err) {
    await dispose();
    throw err;
  }
}

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

export const DYNSEC_MASTER = { username: 'edgestelle:master', password: 'master-secret-1' };
const DEBIAN_DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

/**
 * Mosquitto with the production security model (deploy/mosquitto/mosquitto.conf), without TLS: no
 * anonymous clients, users and ACLs in the dynamic-security plugin, the username as client id.
 */
async function startDynsecMosquitto(parent: string): Promise<Mosquitto> {
  const file = await initDynsecData(parent);
  return startMosquitto({
    config: [
      'allow_anonymous false',
      `plugin ${DEBIAN_DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${file}`,
      'use_username_as_clientid true',
      'persistence false',
      'max_queued_messages 100000',
    ].join('\n'),
  });
}

/**
 * The plugin's file made as deploy/mosquitto/docker-entrypoint.sh makes it: the master's user is
 * the broker's first admin. Mosquitto drops root to its own user before reading the plugin's file
 * (and, with the shipped config, its persistence and certificates), so that folder is its own.
 */
async function initDynsecData(parent: string): Promise<string> {
  const user = mosquittoUser();
  const dataDir = join(parent, 'dynsec');
  await mkdir(dataDir, { mode: 0o700 });
  const file = join(dataDir, 'dynamic-security.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', file, DYNSEC_MASTER.username, DYNSEC_MASTER.password]);
  await chown(dataDir, user.uid, user.gid);
  await chown(file, user.uid, user.gid);
  await chmod(parent, 0o755);
  return file;
}

function mosquittoUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'mosquitto'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

export interface ShippedMosquitto {
  readonly broker: Mosquitto;
  /** The private CA from deploy/gen_certs.sh that signed the broker's certificate. */
  readonly caFile: string;
  /** mqtts:// by the certificate's DNS name, with the master's user: EDGESTELLE_MQTT_URL. */
  readonly masterUrl: string;
}

/** The DNS name in the broker's certificate; it resolves to 127.0.0.1 here. */
export const SHIPPED_BROKER_NAME = 'localhost';

/**
 * Mosquitto running the shipped deploy/mosquitto/mosquitto.conf unchanged but for the paths of
 * the container (certificates, plugin, data) and the listener, which binds a free loopback port:
 * TLS with certificates from deploy/gen_certs.sh, dynamic security, persistence. The caller
 * disposes of `broker`.
 */
export async function startShippedMosquitto(parent: string): Promise<ShippedMosquitto> {
  const user = mosquittoUser();
  const certsDir = join(parent, 'certs');
  execFileSync(
    'bash',
    [
      join(REPO_ROOT, 'deploy/gen_certs.sh'),
      ...['--out', certsDir, '--dns', SHIPPED_BROKER_NAME, '--ip', '127.0.0.1'],
      ...['--broker-owner', `${user.uid}:${user.gid}`],
    ],
    { stdio: 'ignore' },
  );
  const dataDir = dirname(await initDynsecData(parent));
  const template = await readFile(join(REPO_ROOT, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  const config = (port: number): string => {
    const rewritten = template
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
      .replaceAll('/mosquitto/certs/', `${certsDir}/`)
      .replaceAll('/mosquitto/data/', `${dataDir}/`)
      .replace('/usr/lib/mosquitto_dynamic_security.so', DEBIAN_DYNSEC_PLUGIN);
    // A shipped config that no longer matches these rewrites must fail here, not run half-rewritten.
    if (!rewritten.includes(`listener ${port} 127.0.0.1`) || !rewritten.includes(DEBIAN_DYNSEC_PLUGIN))
      throw new Error('deploy/mosquitto/mosquitto.conf changed: update startShippedMosquitto');
    return rewritten;
  };
  const broker = await startMosquitto({ listenerConfig: config, config: '' });
  const credentials = `${encodeURIComponent(DYNSEC_MASTER.username)}:${encodeURIComponent(DYNSEC_MASTER.password)}`;
  return {
    broker,
    caFile: join(certsDir, 'ca.crt'),
    masterUrl: `mqtts://${credentials}@${SHIPPED_BROKER_NAME}:${broker.port}`,
  };
}

/** Polls until the check passes; bounded in time, never a fixed sleep. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface LiveClient {
  readonly socket: WebSocket;
  readonly messages: LiveServerMessage[];
  send(message: LiveClientMessage): void;
  /** Bytes of a run's chunks in arrival order, checking each seq follows the last. */
  output(runId: string): { bytes: Buffer; nextSeq: number; gapsOrDuplicates: number };
  close(): Promise<void>;
}

export async function openLive(url: string, headers: Record<string, string>): Promise<LiveClient> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  const messages: LiveServerMessage[] = [];
  socket.on('message', (data: Buffer) =>
    messages.push(liveServerMessageSchema.parse(JSON.parse(data.toString('utf8')))),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`live upgrade refused: HTTP ${res.statusCode}`)),
    );
  });
  return {
    socket,
    messages,
    send: (message) => socket.send(JSON.stringify(message)),
    output(runId) {
      const parts: Buffer[] = [];
      let nextSeq = -1;
      let gapsOrDuplicates = 0;
      for (const m of messages) {
        if (m.type !== 'chunk' || m.chunk.runId !== runId) continue;
        if (nextSeq !== -1 && m.chunk.seq !== nextSeq) gapsOrDuplicates += 1;
        nextSeq = m.chunk.seq + 1;
        parts.push(Buffer.from(m.chunk.data, 'base64'));
      }
      return { bytes: Buffer.concat(parts), nextSeq: Math.max(nextSeq, 0), gapsOrDuplicates };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close();
      }),
  };
}

/** Opens the live hub and waits for the server to close it: the close code (4401, 4403, …). */
export async function liveCloseCode(url: string, headers: Record<string, string>): Promise<number> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { headers });
  return new Promise<number>((resolve, reject) => {
    socket.once('close', (code) => resolve(code));
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`live upgrade refused: HTTP ${res.statusCode}`)),
    );
  });
}

/** `line 1` … `line n`, as the scripts in these tests print them. */
export function expectedLines(n: number, label: string): string {
  let text = '';
  for (let i = 1; i <= n; i += 1) text += `${label} line ${i}\n`;
  return text;
}

export interface SharedPair extends AsyncDisposable {
  /** The first master, with its stack (PostgreSQL, Mosquitto, shared subscription). */
  a: Stack;
  /** A second master on the same database and broker, sharing the first one's master key. */
  b: Master;
}

/** Two masters on one PostgreSQL and one Mosquitto, ingest split between them. */
export async function startSharedPair(): Promise<SharedPair> {
  const keyDir = await tempDir();
  const masterKeyFile = join(keyDir.path, 'master.key');
  await writeFile(masterKeyFile, Buffer.alloc(32, 9), { mode: 0o600 });
  const a = await startStack('postgres', 'mosquitto', {}, { mqttShared: 'true', masterKeyFile });
  const b = await startPeerMaster(a, masterKeyFile, join(keyDir.path, 'master-b'));
  return {
    a,
    b,
    async [Symbol.asyncDispose]() {
      await b.close();
      await a[Symbol.asyncDispose]();
      await keyDir[Symbol.asyncDispose]();
    },
  };
}

/**
 * Another master on `stack`'s database and broker (a shared subscription), holding the same
 * master key: the stack must have been started with `mqttShared` and that `masterKeyFile`.
 */
export function startPeerMaster(stack: Stack, masterKeyFile: string, dataDir: string): Promise<Master> {
  return createMaster(
    configFrom({
      dataDir,
      httpPort: '0',
      mqttUrl: stack.mqttUrl,
      mqttShared: 'true',
      masterKeyFile,
      databaseUrl: stack.databaseUrl,
      adminPassword: ADMIN_PASSWORD,
      logLevel: 'error',
    }),
    { sweepIntervalMs: 0, logger: pino({ level: 'error' }) },
  );
}
