import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgent, enroll, loadConfig as loadAgentConfig, type Agent } from '@edgestelle/agent';
import {
  MasterError,
  MasterErrorCode,
  createMaster,
  loadConfig as loadMasterConfig,
  type Master,
  type MasterConfig,
  type MasterDeps,
} from '@edgestelle/master';
import { apiTokenCreatedSchema, joinTokenCreatedSchema, nodeDtoSchema, sessionDtoSchema } from '@edgestelle/protocol';
import { freePort, tempDir, type TempDir } from '@edgestelle/testkit';
import { z } from 'zod';

/**
 * A real master (embedded broker, SQLite in a temp dir) and real agents in this process, on
 * free ports, plus a runner for the CLI as a real child process. The CLI never imports the
 * master or agent; only this test fixture does.
 */

export const ADMIN_PASSWORD = 'cli-test-password';
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export interface FleetNode {
  nodeId: string;
  tags: Record<string, string>;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
}

export interface Fleet extends AsyncDisposable {
  readonly master: Master;
  readonly url: string;
  /** An admin API token, for the test's own API calls and the CLI's EDGESTELLE_TOKEN. */
  readonly token: string;
  readonly dir: string;
  readonly agents: Map<string, Agent>;
  /** Closes the master and starts it again on the same ports, data dir and database. */
  restartMaster(): Promise<void>;
  /** GET/POST against the API with the admin token, parsed by `schema`. */
  api<T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T>;
  /** The CLI's environment: a private config home, the master's URL and token. */
  cliEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv;
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  spawnCli(args: readonly string[], options?: CliOptions): ChildProcess;
}

async function json(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`);
  return text === '' ? null : JSON.parse(text);
}

export async function startFleet(nodes: readonly FleetNode[], extraDeps: MasterDeps = {}): Promise<Fleet> {
  const dir: TempDir = await tempDir('edgestelle-cli-');
  const agents = new Map<string, Agent>();
  let master: Master | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([...agents.values()].map((agent) => agent.stop()));
    await master?.close();
    await dir[Symbol.asyncDispose]();
  };
  try {
    const masterDeps = { sweepIntervalMs: 250, publicDir: dir.path, ...extraDeps };
    const started = await startMasterOnFreePorts(join(dir.path, 'master'), masterDeps);
    const config = started.config;
    master = started.master;
    const url = master.url;

    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    const session = sessionDtoSchema.parse(await json(login));
    const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] ?? '';
    const sessionHeaders = {
      'content-type': 'application/json',
      cookie,
      'x-csrf-token': session.csrfToken ?? '',
    };
    const created = apiTokenCreatedSchema.parse(
      await json(
        await fetch(`${url}/api/v1/tokens`, {
          method: 'POST',
          headers: sessionHeaders,
          body: JSON.stringify({ name: 'cli tests' }),
        }),
      ),
    );
    const token = created.token;
    const api = async <T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> =>
      schema.parse(
        await json(
          await fetch(`${url}${path}`, {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
          }),
        ),
      );

    for (const node of nodes) {
      const joinToken = await api('POST', '/api/v1/join-tokens', joinTokenCreatedSchema, {
        tags: node.tags,
        ttlSec: 600,
      });
      const stateDir = join(dir.path, 'agents', node.nodeId);
      const { credentials } = await enroll({
        masterUrl: url,
        token: joinToken.token,
        stateDir,
        nodeId: node.nodeId,
        name: node.nodeId,
      });
      const agent = createAgent(loadAgentConfig({ flags: { stateDir, logLevel: 'silent' }, credentials, env: {} }));
      agents.set(node.nodeId, agent);
      await agent.start();
    }
    await waitFor(async () => {
      const { items } = await api('GET', '/api/v1/nodes', z.object({ items: z.array(nodeDtoSchema) }));
      return nodes.every((node) => items.some((item) => item.nodeId === node.nodeId && item.online));
    }, 'every node online');

    const cliEnv = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: dir.path,
        XDG_CONFIG_HOME: join(dir.path, 'config'),
        EDGESTELLE_URL: url,
        EDGESTELLE_TOKEN: token,
      };
      for (const [key, value] of Object.entries(extra)) {
        if (value === undefined) delete env[key];
        else env[key] = value;
      }
      return env;
    };
    const spawnCli = (args: readonly string[], options: CliOptions = {}): ChildProcess =>
      spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN, ...args], {
        env: cliEnv(options.env),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    const cli = (args: readonly string[], options: CliOptions = {}): Promise<CliResult> => {
      const child = spawnCli(args, options);
      return collect(child, options);
    };
    return {
      get master(): Master {
        if (master === undefined) throw new Error('the master is not running');
        return master;
      },
      async restartMaster() {
        const running = master;
        master = undefined;
        await running?.close();
        master = await createMaster(config, masterDeps);
      },
      url,
      token,
      dir: dir.path,
      agents,
      api,
      cliEnv,
      cli,
      spawnCli,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A free port can be taken by someone else between freePort() and listen() (the other test
 * files run beside this one): start again on new ports when that happens.
 */
async function startMasterOnFreePorts(
  dataDir: string,
  deps: MasterDeps,
): Promise<{ master: Master; config: MasterConfig }> {
  for (let attempt = 1; ; attempt += 1) {
    const loaded = loadMasterConfig({
      argv: ['--data-dir', dataDir, '--http-port', String(await freePort()), '--mqtt-port', String(await freePort())],
      env: { EDGESTELLE_ADMIN_PASSWORD: ADMIN_PASSWORD, EDGESTELLE_LOG_LEVEL: 'silent' },
    });
    if (loaded.kind !== 'config') throw new Error('master config asked for help');
    try {
      return { master: await createMaster(loaded.config, deps), config: loaded.config };
    } catch (err) {
      const inUse =
        (err instanceof MasterError && err.code === MasterErrorCode.portInUse) ||
        (err instanceof Error && 'code' in err && err.code === 'EADDRINUSE');
      if (!inUse || attempt >= 3) throw err;
    }
  }
}

/** Waits for the child to exit (killing it by PID after timeoutMs) and returns what it wrote. */
export function collect(child: ChildProcess, options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin?.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`CLI did not exit within ${options.timeoutMs ?? 30_000} ms; stdout: ${stdout} stderr: ${stderr}`),
      );
    }, options.timeoutMs ?? 30_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
