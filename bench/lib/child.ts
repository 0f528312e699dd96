import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { BenchError, BenchErrorCode } from './errors.ts';

/**
 * A benchmark part in its own Node process (master, fleet), so its RSS and CPU are its own
 * and the bench's clients do not share its event loop. Runs TypeScript through tsx with the
 * `source` condition, like `npm run bench`; talks over the IPC channel.
 */
export interface BenchChild {
  readonly pid: number;
  readonly process: ChildProcess;
  /** Sends a message and waits for the first answer `schema` accepts. */
  call<T>(message: Record<string, unknown>, schema: z.ZodType<T>, timeoutMs: number): Promise<T>;
  /** Asks it to stop; SIGKILL by pid if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Extra Node flags for a child from an environment variable, to profile it (`--cpu-prof --cpu-prof-dir=/tmp/prof`). */
export function nodeFlagsFromEnv(variable: string): string[] {
  return (process.env[variable] ?? '').split(' ').filter((flag) => flag !== '');
}

export async function forkChild<T>(
  entry: URL,
  args: readonly string[],
  ready: z.ZodType<T>,
  timeoutMs: number,
  execArgv: readonly string[] = [],
): Promise<{ child: BenchChild; ready: T }> {
  const proc = fork(fileURLToPath(entry), [...args], {
    execArgv: [...execArgv, '--import', 'tsx', '--conditions=source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pid = proc.pid;
  if (pid === undefined) throw new BenchError(BenchErrorCode.childFailed, `cannot start ${entry.pathname}`);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));

  const next = <R>(schema: z.ZodType<R>, waitMs: number, what: string): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      const onMessage = (message: unknown): void => {
        const parsed = schema.safeParse(message);
        if (!parsed.success) return;
        done();
        resolve(parsed.data);
      };
      const onExit = (code: number | null): void => {
        done();
        reject(new BenchError(BenchErrorCode.childFailed, `${entry.pathname} exited (${code}) before ${what}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new BenchError(BenchErrorCode.timeout, `${entry.pathname} gave no ${what} within ${waitMs} ms`));
      }, waitMs);
      const done = (): void => {
        clearTimeout(timer);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
      };
      proc.on('message', onMessage);
      proc.once('exit', onExit);
    });

  const child: BenchChild = {
    pid,
    process: proc,
    call(message, schema, waitMs) {
      const answer = next(schema, waitMs, `answer to ${JSON.stringify(message)}`);
      proc.send(message);
      return answer;
    },
    async stop(graceMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (proc.connected) proc.send({ type: 'stop' });
      const timer = setTimeout(() => process.kill(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    return { child, ready: await next(ready, timeoutMs, 'ready message') };
  } catch (err) {
    await child.stop(1000);
    throw err;
  }
}

/** The child side: calls `handler` for each message from the parent and sends back what it returns. */
export function serveParent(handler: (message: unknown) => Promise<unknown>): void {
  process.on('message', (message: unknown) => {
    handler(message).then(
      (answer) => {
        if (answer !== undefined) process.send?.(answer);
      },
      (err: unknown) => {
        process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      },
    );
  });
}
