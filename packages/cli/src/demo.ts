import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `edgestelle master --demo`: once the master is up, enroll a local agent with a fresh join
 * token and run it as a child process (the same CLI entry, `edgestelle agent`), so a newcomer
 * sees a node online and can run a command on it at once. The agent is stopped with the master.
 */
export interface DemoMaster {
  url: string;
  dataDir: string;
  /** A token made for the node id: it enrolls the demo node on every start, the first or a later one. */
  createJoinToken(nodeId: string): Promise<string>;
  /**
   * The broker URL the demo agent uses instead of the one enrollment hands out: with the
   * embedded broker's TLS listener on, that is mqtts:// with a CA the agent does not have, so
   * the demo node takes the plain listener on the same loopback host.
   */
  mqttUrl?: string;
}

export interface DemoOptions {
  /** The CLI entry and the Node flags it runs under (tsx in development, none when built). */
  cliEntry: string;
  execArgv: readonly string[];
  log: (line: string) => void;
}

export const DEMO_NODE_ID = 'demo';
const STOP_GRACE_MS = 10_000;

/**
 * All the demo agent gets of the master's environment. Its scripts run as the master's user and
 * can read the agent's environment (/proc/$PPID/environ), so nothing the master was started with
 * (admin password, database URL, API token, …) may pass: the agent gets its settings in args and
 * its state dir, and the names here carry none of the master's secrets. NODE_EXTRA_CA_CERTS (a
 * path) lets it trust the embedded broker's TLS listener as the master's user does.
 */
const DEMO_AGENT_ENV = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'TZ',
  'TERM',
  'TMPDIR',
  'NODE_EXTRA_CA_CERTS',
]);

export function demoAgentEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (DEMO_AGENT_ENV.has(name) || name.startsWith('LC_'))) kept[name] = value;
  }
  kept.EDGESTELLE_LOG_LEVEL = env.EDGESTELLE_LOG_LEVEL ?? 'info';
  return kept;
}

export async function startDemoAgent(master: DemoMaster, options: DemoOptions): Promise<() => Promise<void>> {
  const stateDir = join(master.dataDir, 'demo-agent');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const logPath = join(stateDir, 'agent.log');
  const log = createWriteStream(logPath, { flags: 'a' });
  const run = (args: readonly string[]): ChildProcess => {
    const child = spawn(process.execPath, [...options.execArgv, options.cliEntry, 'agent', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: demoAgentEnvironment(process.env),
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    return child;
  };

  const token = await master.createJoinToken(DEMO_NODE_ID);
  const enrolled = await exitOf(
    run([
      'enroll',
      '--master',
      master.url,
      '--token',
      token,
      '--state-dir',
      stateDir,
      '--node-id',
      DEMO_NODE_ID,
      '--name',
      'demo agent',
    ]),
  );
  if (enrolled !== 0) {
    log.end();
    throw new Error(`the demo agent could not enroll (exit ${enrolled}); see ${logPath}`);
  }
  const agent = run(['--state-dir', stateDir, ...(master.mqttUrl === undefined ? [] : ['--mqtt-url', master.mqttUrl])]);
  const exited = exitOf(agent);
  options.log(
    `  demo agent        node '${DEMO_NODE_ID}' (pid ${agent.pid ?? '?'}), log in ${logPath}\n` +
      `                    (its commands run as your user and can read the data dir: for trying, not production)\n`,
  );
  return async () => {
    if (agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}
