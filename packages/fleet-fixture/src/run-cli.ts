import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSource } from './node-child.ts';
import type { FleetMaster } from './start-master.ts';

const CLI_MAIN = fileURLToPath(new URL('../../cli/src/main.ts', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Over cliEnv's; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
}

/** The CLI's environment: a private config home in the master's dir, its URL and the admin's token. */
export function cliEnv(master: FleetMaster, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: master.dir,
    XDG_CONFIG_HOME: join(master.dir, 'config'),
    EDGESTELLE_URL: master.url,
    EDGESTELLE_TOKEN: master.admin.token,
  };
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** `edgestelle <args>` as a real child process against `master`; the caller collects or ends it. */
export function spawnCli(master: FleetMaster, args: readonly string[], opts: CliOptions = {}): ChildProcess {
  return spawnSource(CLI_MAIN, args, cliEnv(master, opts.env));
}

/** `edgestelle <args>` to its exit: status and what it wrote. */
export function runCli(master: FleetMaster, args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return collect(spawnCli(master, args, opts), opts);
}

/** Waits for the child to exit (killing it by PID after timeoutMs) and returns what it wrote. */
export function collect(child: ChildProcess, opts: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const timeoutMs = opts.timeoutMs ?? 30_000;
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin?.end(opts.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
