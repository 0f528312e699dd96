import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';

/** How often the worker copies committed WAL frames into the database file. */
const DEFAULT_INTERVAL_MS = 200;
/** SQLite's own default, restored when the worker is gone. */
const AUTO_CHECKPOINT_PAGES = 1000;

/**
 * Plain CommonJS, so the worker starts the same from source, from dist and under a test
 * runner: it needs nothing but the driver, whose resolved path it is given.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
// PASSIVE never waits for readers or writers: it copies what it can and comes back later.
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => checkpoint.get(), workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
parentPort.postMessage('ready');
`;

export interface WalCheckpointer {
  /** Stops the worker (if it started); the main connection checkpoints for itself again. */
  close(): Promise<void>;
}

/**
 * Runs SQLite's WAL checkpoints on a worker thread with its own connection. A checkpoint copies
 * the WAL's pages into the database file and fsyncs both; left to the main connection it runs
 * inside whichever COMMIT crosses 1,000 pages and blocks the event loop meanwhile (~13 ms per
 * 4 MB here, 40 % of a commit's cost under a flood of output). SQLite lets any connection
 * checkpoint while others read and write, so the main connection turns its own off once the
 * worker runs, and back on if the worker fails.
 */
export async function startWalCheckpointer(
  database: Database,
  path: string,
  logger?: Logger,
  intervalMs = DEFAULT_INTERVAL_MS,
): Promise<WalCheckpointer> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, intervalMs } });
  const restoreAutoCheckpoint = (): void => {
    if (database.open) database.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => {
    logger?.error({ err, path }, 'the WAL checkpoint worker failed; the main connection checkpoints again');
    restoreAutoCheckpoint();
  });
  const started = await new Promise<boolean>((resolve) => {
    worker.once('message', () => resolve(true));
    worker.once('error', () => resolve(false));
  });
  if (started) database.pragma('wal_autocheckpoint = 0');
  return {
    async close() {
      restoreAutoCheckpoint();
      worker.postMessage('close');
      await exited;
    },
  };
}
