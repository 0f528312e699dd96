import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgent, enroll, loadConfig, type Agent, type AgentDeps, type EnrollResult } from '@edgestelle/agent';
import { nodeDtoSchema } from '@edgestelle/protocol';
import { pino } from 'pino';
import type { AdminClient } from './admin-client.ts';
import { captureOutput, endChild, spawnSource } from './node-child.ts';
import { testLogLevel } from './test-log-level.ts';
import { waitFor } from './wait-for.ts';

const ENTRY = fileURLToPath(new URL('./agent-main.ts', import.meta.url));

export interface AgentOptions {
  tags?: Record<string, string>;
  /** child = a real `agent` process (enrolled in this one), that a test can SIGKILL. */
  mode?: 'in-process' | 'child';
  deps?: AgentDeps;
  /** Agent settings by name (loadConfig flags), e.g. { spoolMaxBytes: '4096' }. */
  settings?: Record<string, string>;
}

export interface FleetAgent extends AsyncDisposable {
  readonly nodeId: string;
  readonly stateDir: string;
  /** What enrollment stored: the node's MQTT URL, username and password among them. */
  readonly credentials: Credentials;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Child mode only. */
  kill?(signal?: NodeJS.Signals): Promise<void>;
}

export interface InProcessAgent extends FleetAgent {
  /** The agent this start() made; it stays readable after stop(). */
  readonly agent: Agent;
}

export interface ChildAgent extends FleetAgent {
  /** A signal to the agent's process (SIGKILL by default), waiting until it exits. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** What the agent's process wrote. */
  log(): string;
}

type Credentials = EnrollResult['credentials'];

/** Enrolls `name` with a join token made through the API, starts it and waits until the master sees it online. */
export async function startFleetAgent(
  admin: AdminClient,
  parentDir: string,
  name: string,
  opts: AgentOptions = {},
): Promise<InProcessAgent | ChildAgent> {
  const stateDir = join(parentDir, 'agents', name);
  const token = await admin.joinToken({ tags: opts.tags ?? {} });
  const { credentials } = await enroll({ masterUrl: admin.url, token, stateDir, nodeId: name, name });
  const settings = { stateDir, logLevel: 'warn', ...opts.settings };
  const agent =
    opts.mode === 'child'
      ? childAgent(credentials, stateDir, settings)
      : inProcessAgent(credentials, stateDir, settings, opts.deps);
  await agent.start();
  await waitFor(`${name} online`, async () => (await admin.api('GET', `/api/v1/nodes/${name}`, nodeDtoSchema)).online, {
    timeoutMs: 15_000,
  });
  return agent;
}

function inProcessAgent(
  credentials: Credentials,
  stateDir: string,
  settings: Record<string, string>,
  deps: AgentDeps = {},
): InProcessAgent {
  const config = loadConfig({ flags: settings, env: {}, credentials });
  let latest: Agent | undefined;
  let running = false;
  const agent: InProcessAgent = {
    nodeId: credentials.nodeId,
    stateDir,
    credentials,
    get agent() {
      if (latest === undefined) throw new Error(`agent ${credentials.nodeId} was never started`);
      return latest;
    },
    async start() {
      if (running) return;
      latest = createAgent(config, {
        logger: pino({ level: testLogLevel('silent') }),
        backoff: { initialMs: 50, maxMs: 500 },
        ackTimeoutMs: 1500,
        ...deps,
      });
      running = true;
      await latest.start();
    },
    async stop() {
      if (!running) return;
      running = false;
      await latest?.stop();
    },
    [Symbol.asyncDispose]: () => agent.stop(),
  };
  return agent;
}

function childAgent(credentials: Credentials, stateDir: string, settings: Record<string, string>): ChildAgent {
  const nodeId = credentials.nodeId;
  const args = Object.entries(settings).flatMap(([key, value]) => [
    `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    value,
  ]);
  let child: ChildProcess | undefined;
  let log = (): string => '';
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const current = child;
    child = undefined;
    if (current !== undefined) await endChild(current, signal);
  };
  return {
    nodeId,
    stateDir,
    credentials,
    log: () => log(),
    async start() {
      if (child !== undefined) return;
      const started = spawnSource(ENTRY, args, { PATH: process.env.PATH, HOME: process.env.HOME });
      started.stdin?.end();
      log = captureOutput(started);
      child = started;
      await once(started, 'spawn');
    },
    stop: () => kill('SIGTERM'),
    kill,
    [Symbol.asyncDispose]: () => kill('SIGTERM'),
  };
}
