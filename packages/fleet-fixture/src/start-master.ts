import { join } from 'node:path';
import {
  configEnv,
  configFrom,
  createMaster,
  type ConfigInputs,
  type Master,
  type MasterDeps,
} from '@edgestelle/master';
import {
  freePort,
  freshPostgresDatabase,
  startMosquitto,
  tempDir,
  type FreshDatabase,
  type Mosquitto,
  type TempDir,
} from '@edgestelle/testkit';
import { pino } from 'pino';
import { loginClient, type AdminClient } from './admin-client.ts';
import { DYNSEC_MASTER, startDynsecMosquitto } from './brokers.ts';
import { consoleBuild } from './console-build.ts';
import {
  startFleetAgent,
  type AgentOptions,
  type ChildAgent,
  type FleetAgent,
  type InProcessAgent,
} from './fleet-agent.ts';
import { MasterChild } from './master-child.ts';
import { TestClock } from './test-clock.ts';
import { testLogLevel } from './test-log-level.ts';

export const ADMIN = { username: 'admin', password: 'fleet-fixture-admin' };

export interface StartMasterOptions {
  /** Default sqlite (a file in the master's temp dir); postgres is a fresh database. */
  db?: 'sqlite' | 'postgres';
  /** Default embedded; mosquitto is a private one on a free port; mosquitto-dynsec has the production security model. */
  broker?: 'embedded' | 'mosquitto' | 'mosquitto-dynsec';
  /** child = a real `master` process (fault tests, CLI, bench). */
  mode?: 'in-process' | 'child';
  /** Config keys (configFrom's names); an mqttUrl here means the test brings its broker. */
  config?: ConfigInputs;
  /** In-process only. */
  deps?: MasterDeps;
  /** Child only: more environment for the process (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, …). */
  env?: Record<string, string>;
  /** A second master on the same PostgreSQL and broker, with the same master key. */
  sharedWith?: FleetMaster;
  /** Serve a console built from the current source (e2e). In-process only. */
  console?: boolean;
}

export type AgentsOptions = AgentOptions & { prefix?: string };

export interface FleetMaster extends AsyncDisposable {
  readonly url: string;
  /** The broker the master talks to. */
  readonly mqttUrl: string;
  readonly databaseUrl: string;
  /** The master's temp dir: its data dir is `master/` in it, agents' state dirs `agents/<name>`. */
  readonly dir: string;
  readonly masterKeyFile: string;
  /** In-process: the time the master sees, movable. */
  readonly clock: TestClock;
  readonly master?: Master;
  /** Logged in as the first admin through the API. */
  readonly admin: AdminClient;
  /** A real agent enrolled through the API (join token), online before this returns; stopped with the master. */
  startAgent(name: string, opts: AgentOptions & { mode: 'child' }): Promise<ChildAgent>;
  startAgent(name: string, opts?: AgentOptions & { mode?: 'in-process' }): Promise<InProcessAgent>;
  /** `n` agents named `<prefix>-1` … `<prefix>-n` (prefix "node" unless given), one after the other. */
  startAgents(n: number, opts: AgentsOptions & { mode: 'child' }): Promise<ChildAgent[]>;
  startAgents(n: number, opts?: AgentsOptions & { mode?: 'in-process' }): Promise<InProcessAgent[]>;
  /** Stops the master and starts it again on the same ports, data and database. */
  restart(): Promise<void>;
  /** Child mode only. */
  kill?(signal?: NodeJS.Signals): Promise<void>;
}

export interface InProcessMaster extends FleetMaster {
  readonly master: Master;
}

export interface ChildMaster extends FleetMaster {
  /** SIGKILL by default, as a crash; waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again after kill(), on the same port and data. */
  start(): Promise<void>;
  pid(): number | undefined;
  log(): string;
  /** /readyz status, or 0 when nothing answers. */
  readyz(): Promise<number>;
}

/** A real master with its database and broker in a temp dir, torn down (with its agents) by `await using`. */
export async function startMaster(opts: StartMasterOptions & { mode: 'child' }): Promise<ChildMaster>;
export async function startMaster(opts?: StartMasterOptions & { mode?: 'in-process' }): Promise<InProcessMaster>;
export async function startMaster(opts: StartMasterOptions = {}): Promise<FleetMaster> {
  if (opts.mode === 'child' && (opts.deps !== undefined || opts.console === true))
    throw new Error('startMaster: deps and console need mode in-process');
  const dir: TempDir = await tempDir('edgestelle-fleet-');
  const owned: AsyncDisposable[] = [];
  const agents: FleetAgent[] = [];
  let stopMaster = async (): Promise<void> => {};
  const dispose = async (): Promise<void> => {
    for (const agent of agents) await agent.stop();
    await stopMaster();
    for (const resource of owned.reverse()) await resource[Symbol.asyncDispose]();
    await dir[Symbol.asyncDispose]();
  };
  try {
    const shared = opts.sharedWith;
    const { databaseUrl, mqttUrl } = shared ?? (await ownStores(opts, dir.path, owned));
    const brokerUrl = opts.config?.mqttUrl ?? mqttUrl;
    const inputs: ConfigInputs = {
      dataDir: join(dir.path, 'master'),
      httpPort: '0',
      mqttPort: brokerUrl === undefined ? '0' : undefined,
      mqttUrl: brokerUrl,
      databaseUrl,
      masterKeyFile: shared?.masterKeyFile,
      adminPassword: ADMIN.password,
      logLevel: testLogLevel('error'),
      ...opts.config,
    };
    const config = configFrom(inputs);
    const base = {
      dir: dir.path,
      databaseUrl: config.databaseUrl,
      masterKeyFile: config.masterKeyFile ?? join(config.dataDir, 'master.key'),
      clock: new TestClock(),
    };
    async function startAgent(name: string, agentOpts: AgentOptions & { mode: 'child' }): Promise<ChildAgent>;
    async function startAgent(
      name: string,
      agentOpts?: AgentOptions & { mode?: 'in-process' },
    ): Promise<InProcessAgent>;
    async function startAgent(name: string, agentOpts?: AgentOptions): Promise<FleetAgent> {
      return addAgent(name, agentOpts);
    }
    const addAgent = async (name: string, agentOpts?: AgentOptions): Promise<InProcessAgent | ChildAgent> => {
      const agent = await startFleetAgent(fleet.admin, dir.path, name, agentOpts);
      agents.push(agent);
      return agent;
    };
    async function startAgents(n: number, agentOpts: AgentsOptions & { mode: 'child' }): Promise<ChildAgent[]>;
    async function startAgents(
      n: number,
      agentOpts?: AgentsOptions & { mode?: 'in-process' },
    ): Promise<InProcessAgent[]>;
    async function startAgents(n: number, agentOpts: AgentsOptions = {}): Promise<FleetAgent[]> {
      const started: FleetAgent[] = [];
      for (let i = 1; i <= n; i += 1) started.push(await addAgent(`${agentOpts.prefix ?? 'node'}-${i}`, agentOpts));
      return started;
    }
    let fleet: FleetMaster;
    if (opts.mode === 'child') {
      const httpPort = inputs.httpPort === '0' ? String(await freePort()) : (inputs.httpPort ?? '');
      const mqttPort = inputs.mqttPort === '0' ? String(await freePort()) : inputs.mqttPort;
      const child = new MasterChild(`http://127.0.0.1:${httpPort}`, {
        ...configEnv({ ...inputs, httpPort, mqttPort, logLevel: testLogLevel('warn') }),
        ...opts.env,
      });
      stopMaster = () => child.kill('SIGTERM');
      await child.start();
      const childMaster: ChildMaster = {
        ...base,
        url: child.url,
        mqttUrl: brokerUrl ?? `mqtt://127.0.0.1:${mqttPort}`,
        admin: await loginClient(child.url, ADMIN.username, ADMIN.password),
        startAgent,
        startAgents,
        async restart() {
          await child.kill('SIGTERM');
          await child.start();
        },
        kill: (signal) => child.kill(signal),
        start: () => child.start(),
        pid: () => child.pid(),
        log: () => child.log(),
        readyz: () => child.readyz(),
        [Symbol.asyncDispose]: dispose,
      };
      fleet = childMaster;
    } else {
      const deps: MasterDeps = {
        clock: base.clock,
        sweepIntervalMs: 0,
        ingestFlushIntervalMs: 10,
        logger: pino({ level: testLogLevel('error') }),
        ...(opts.console === true ? { publicDir: await consoleBuild() } : {}),
        ...opts.deps,
      };
      let master = await createMaster(config, deps);
      stopMaster = () => master.close();
      fleet = {
        ...base,
        url: master.url,
        mqttUrl: brokerUrl ?? master.brokerUrl,
        get master() {
          return master;
        },
        admin: await loginClient(master.url, ADMIN.username, ADMIN.password),
        startAgent,
        startAgents,
        async restart() {
          const running = master;
          const ports: ConfigInputs = { httpPort: String(running.httpPort) };
          if (inputs.mqttPort !== undefined) ports.mqttPort = new URL(running.brokerUrl).port;
          await running.close();
          master = await createMaster(configFrom({ ...inputs, ...ports }), deps);
        },
        [Symbol.asyncDispose]: dispose,
      };
    }
    return fleet;
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The database and broker a master of its own starts with; `owned` disposes of them. */
async function ownStores(
  opts: StartMasterOptions,
  dir: string,
  owned: AsyncDisposable[],
): Promise<{ databaseUrl: string | undefined; mqttUrl: string | undefined }> {
  let databaseUrl: string | undefined;
  if (opts.db === 'postgres') {
    const db: FreshDatabase = await freshPostgresDatabase();
    owned.push(db);
    databaseUrl = db.url;
  }
  let mosquitto: Mosquitto | undefined;
  let mqttUrl: string | undefined;
  if (opts.broker === 'mosquitto') {
    mosquitto = await startMosquitto();
    mqttUrl = mosquitto.url;
  } else if (opts.broker === 'mosquitto-dynsec') {
    mosquitto = await startDynsecMosquitto(dir);
    mqttUrl = `mqtt://${encodeURIComponent(DYNSEC_MASTER.username)}:${DYNSEC_MASTER.password}@127.0.0.1:${mosquitto.port}`;
  }
  if (mosquitto !== undefined) owned.push(mosquitto);
  return { databaseUrl, mqttUrl };
}

export type DbKind = NonNullable<StartMasterOptions['db']>;
export type BrokerKind = NonNullable<StartMasterOptions['broker']>;
