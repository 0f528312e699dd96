import { type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { captureOutput, endChild, spawnSource } from './node-child.ts';
import { testLogLevel } from './test-log-level.ts';
import { waitFor } from './wait-for.ts';

const ENTRY = fileURLToPath(new URL('./master-main.ts', import.meta.url));

/**
 * `edgestelle master` as its own process, configured by EDGESTELLE_* variables, that a test can
 * SIGKILL and start again on the same HTTP port and data. `start` waits until /readyz answers 200.
 */
export class MasterChild {
  private child: ChildProcess | undefined;
  private output: () => string = () => '';

  constructor(
    readonly url: string,
    private readonly env: Record<string, string>,
  ) {}

  pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    return this.output();
  }

  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child !== undefined) throw new Error('the master process is already running');
    const child = spawnSource(ENTRY, [], { ...process.env, EDGESTELLE_LOG_LEVEL: testLogLevel('warn'), ...this.env });
    child.stdin?.end();
    this.child = child;
    this.output = captureOutput(child);
    await waitFor(
      () => `the master to be ready:\n${this.output()}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`the master exited with ${child.exitCode}:\n${this.output()}`);
        return (await this.readyz()) === 200;
      },
      { timeoutMs },
    );
  }

  /** SIGKILL is a crash: nothing the process holds in memory survives. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child !== undefined) await endChild(child, signal);
  }

  /** /readyz status, or 0 when nothing answers. */
  async readyz(): Promise<number> {
    try {
      return (await fetch(`${this.url}/readyz`)).status;
    } catch (err) {
      if (err instanceof TypeError) return 0;
      throw err;
    }
  }
}
