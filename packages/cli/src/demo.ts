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
  createJoinToken(): Promise<string>;
}

export interface DemoOptions {
  /** The CLI entry and the Node flags it runs under (tsx in development, none when built). */
  cliEntry: string;
  execArgv: readonly string[];
  log: (line: string) => void;
}

export const DEMO_NODE_ID = 'demo';
const STOP_GRACE_MS = 10_000;

export async function startDemoAgent(master: DemoMaster, options: DemoOptions): Promise<() => Promise<void>> {
  const stateDir = join(master.dataDir, 'demo-agent');
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const logPath = join(stateDir, 'agent.log');
  const log = createWriteStream(logPath, { flags: 'a' });
  const run = (args: readonly string[]): ChildProcess => {
    const child = spawn(process.execPath, [...options.execArgv, options.cliEntry, 'agent', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EDGESTELLE_LOG_LEVEL: process.env.EDGESTELLE_LOG_LEVEL ?? 'info' },
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    return child;
  };

  const token = await master.createJoinToken();
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
  const agent = run(['--state-dir', stateDir]);
  const exited = exitOf(agent);
  options.log(`  demo agent        node '${DEMO_NODE_ID}' (pid ${agent.pid ?? '?'}), log in ${logPath}\n`);
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
