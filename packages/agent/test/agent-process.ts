import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const entry = fileURLToPath(new URL('./fixtures/agent-main.ts', import.meta.url));

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  log(): string;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
}

/** `edgestelle agent` as its own process (through tsx), so a test can kill -9 it. */
export function spawnAgent(args: string[]): AgentProcess {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', entry, ...args], {
    cwd: repoRoot,
    env: { ...process.env, EDGESTELLE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  if (child.pid === undefined) throw new Error('could not start the agent process');
  return { child, pid: child.pid, log: () => output, exited };
}
