import { join } from 'node:path';
import { createAgent, enroll, loadConfig, type Agent } from '@edgestelle/agent';
import { configFrom, createMaster, type Master } from '@edgestelle/master';
import { jobDtoSchema, type JobCreate, type JobDto } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import { pino } from 'pino';
import { z } from 'zod';
import { buildConsole } from './console-build.ts';

export const ADMIN = { username: 'admin', password: 'e2e-admin-password' };
export const VIEWER = { username: 'vera', password: 'e2e-viewer-password' };

export interface ConsoleStack extends AsyncDisposable {
  master: Master;
  /** Where the console is served, e.g. http://127.0.0.1:40123. */
  url: string;
  dir: string;
  nodeIds: string[];
  /** Starts a job through the API with an admin token, as a script would. */
  createJob(job: JobCreate): Promise<JobDto>;
  /** Stops the master and starts it again on the same ports and data: agents and browsers reconnect. */
  restartMaster(): Promise<void>;
}

/**
 * A real master (SQLite, embedded broker, free ports, temp data dir) serving a console built
 * from the current source, and real agents enrolled through the API with join tokens.
 */
export async function startConsoleStack(agentNames: string[]): Promise<ConsoleStack> {
  const dir: TempDir = await tempDir('edgestelle-e2e-');
  const agents: Agent[] = [];
  let master: Master | undefined;
  const logLevel = process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'error';
  const dispose = async (): Promise<void> => {
    for (const agent of agents) await agent.stop();
    await master?.close();
    await dir[Symbol.asyncDispose]();
  };
  try {
    const publicDir = join(dir.path, 'public');
    await buildConsole(publicDir);
    const start = (httpPort: number, mqttPort: number) =>
      createMaster(
        configFrom({
          dataDir: join(dir.path, 'master'),
          httpPort: String(httpPort),
          mqttPort: String(mqttPort),
          adminPassword: ADMIN.password,
          logLevel,
        }),
        { publicDir, logger: pino({ level: logLevel }) },
      );
    master = await start(0, 0);
    const m = master;
    await m.auth.createUser(VIEWER.username, VIEWER.password, 'viewer');
    const admin = await m.store.db
      .selectFrom('users')
      .select('user_id')
      .where('username', '=', ADMIN.username)
      .executeTakeFirstOrThrow();
    const { token } = await m.auth.createApiToken(admin.user_id, 'e2e', null);
    const api = async <T>(method: string, path: string, schema: z.ZodType<T>, body: unknown): Promise<T> => {
      const response = await fetch(`${m.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json: unknown = await response.json();
      if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(json)}`);
      return schema.parse(json);
    };

    for (const name of agentNames) {
      const stateDir = join(dir.path, 'agents', name);
      const joinToken = await api('POST', '/api/v1/join-tokens', z.object({ token: z.string() }), {
        tags: { site: 'e2e', role: name.endsWith('1') ? 'edge' : 'gateway' },
        maxUses: 1,
      });
      const { credentials } = await enroll({ masterUrl: m.url, token: joinToken.token, stateDir, nodeId: name, name });
      const agent = createAgent(loadConfig({ flags: { stateDir, logLevel: 'warn' }, env: {}, credentials }), {
        logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent' }),
        backoff: { initialMs: 50, maxMs: 500 },
      });
      agents.push(agent);
      await agent.start();
    }

    const stack: ConsoleStack = {
      master: m,
      url: m.url,
      dir: dir.path,
      nodeIds: agentNames,
      createJob: (job) => api('POST', '/api/v1/jobs', jobDtoSchema, job),
      async restartMaster() {
        const running = master;
        if (running === undefined) throw new Error('the master is not running');
        const httpPort = running.httpPort;
        const mqttPort = Number(new URL(running.brokerUrl).port);
        master = undefined;
        await running.close();
        master = await start(httpPort, mqttPort);
        stack.master = master;
      },
      [Symbol.asyncDispose]: dispose,
    };
    return stack;
  } catch (err) {
    await dispose();
    throw err;
  }
}
