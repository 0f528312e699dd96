/**
 * Issue 10, "PostgreSQL restarted during ingest: the master stays up". The long run of
 * network-faults.test.ts (5 restarts) let two `Connection terminated unexpectedly` errors escape
 * as uncaught exceptions in the test process: in `edgestelle master` that is a crash. This pins
 * the cause with the master's own store in a child process and a private PostgreSQL stopped
 * under a query.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPostgresCluster } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@edgestelle/fleet-fixture';

const fixture = fileURLToPath(new URL('./fixtures/store-query-through-db-stop.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

describe('PostgreSQL stops while a transaction holds a connection', () => {
  // Regression: pg-pool removes its idle 'error' listener from a client while it is checked out
  // (pg-pool 3.14.0 `_acquireClient`), and the store had none of its own, so a server that ended
  // the connection between two statements of a transaction (as ingest's are) made pg emit an
  // unhandled 'error' and the master process died. The store now listens on every client.
  it('the next statement is refused and the process lives on', async () => {
    await using cluster = await startPostgresCluster();
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: cluster.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdin.on('error', (err) => (output += `stdin: ${err.message}\n`));
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // Printed once the transaction's first statement has been answered: the connection is
      // held between two statements.
      await waitFor(
        () => `the query to start:\n${output}`,
        () => output.includes('querying'),
        { timeoutMs: 30_000 },
      );
      await cluster.stop('fast');
      // The next statement, now (nothing happens if the process already died of the
      // connection's end).
      child.stdin.end();
      const code = await exited;
      expect(output, output).toContain('refused');
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
