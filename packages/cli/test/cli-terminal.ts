import { fileURLToPath } from 'node:url';
import { spawn, type IPty } from '@lydell/node-pty';
import { cliEnv, type FleetMaster } from '@edgestelle/fleet-fixture';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** The CLI on a pseudo-terminal, as an operator runs it; killed after 30 s at the latest. */
export interface TerminalSession {
  pty: IPty;
  output: () => string;
  exit: Promise<number>;
}

export function cliOnTerminal(
  fleet: FleetMaster,
  args: readonly string[],
  options: { cols: number; rows: number; env?: Record<string, string | undefined> },
): TerminalSession {
  const pty = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', MAIN, ...args], {
    name: 'xterm-256color',
    cols: options.cols,
    rows: options.rows,
    env: cliEnv(fleet, options.env ?? {}),
  });
  let output = '';
  pty.onData((data) => (output += data));
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  const timer = setTimeout(() => pty.kill('SIGKILL'), 30_000);
  void exit.then(() => clearTimeout(timer));
  return { pty, output: () => output, exit };
}
