import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.ts';
import { tempDir } from './temp-dir.ts';

const run = promisify(execFile);

export interface PostgresCluster extends AsyncDisposable {
  readonly port: number;
  /** Superuser URL of the `postgres` database (trust auth, 127.0.0.1 only). */
  readonly url: string;
  readonly dataDir: string;
  /** The postmaster's PID while it runs. */
  pid(): number | undefined;
  /** Stops by PID: `fast` (SIGINT, clean) or `immediate` (SIGQUIT, crash-like, WAL replay on start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  log(): Promise<string>;
}

/** Debian's newest PostgreSQL server binaries, or EDGESTELLE_PG_BIN. */
function pgBin(): string {
  const configured = process.env.EDGESTELLE_PG_BIN;
  if (configured !== undefined) return configured;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .map(Number)
        .filter((v) => Number.isInteger(v))
        .sort((a, b) => b - a)
    : [];
  const newest = versions[0];
  if (newest === undefined) throw new Error(`no PostgreSQL server under ${root}: install Debian's postgresql`);
  return join(root, String(newest), 'bin');
}

/**
 * A private PostgreSQL cluster for tests that stop or crash the database: `initdb -A trust` and
 * `pg_ctl` as the postgres user (PostgreSQL refuses to run as root), a free port, a temp dir.
 * Never the machine's shared server. Stopped by PID and removed on dispose.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = pgBin();
  const dir = await tempDir('edgestelle-pg-');
  const dataDir = join(dir.path, 'data');
  const socketDir = join(dir.path, 'socket');
  const logFile = join(dir.path, 'postgres.log');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? await postgresIds() : undefined;
  await mkdir(dataDir, { mode: 0o700 });
  await mkdir(socketDir, { mode: 0o700 });
  if (owner !== undefined) {
    for (const path of [dir.path, dataDir, socketDir]) await chown(path, owner.uid, owner.gid);
  }
  const as = async (command: string, args: string[]): Promise<void> => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    await run(file, argv, { timeout: 120_000 });
  };
  await as(join(bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);

  let postmasterPid: number | undefined;
  const start = async (): Promise<void> => {
    const options = [
      `-p ${port}`,
      `-k ${socketDir}`,
      '-c listen_addresses=127.0.0.1',
      // Speed, not durability: the OS never crashes under these tests, only the server does.
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c shared_buffers=32MB',
    ].join(' ');
    await as(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']);
    const pidLine = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0];
    postmasterPid = Number(pidLine);
    await waitForPort(port, 10_000);
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const pid = postmasterPid;
    if (pid === undefined) return;
    postmasterPid = undefined;
    process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const deadline = Date.now() + 60_000;
    while (alive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        throw new Error(`PostgreSQL ${pid} did not stop within 60 s; killed`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  try {
    await start();
  } catch (err) {
    await dir[Symbol.asyncDispose]();
    throw err;
  }
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    pid: () => postmasterPid,
    stop,
    start,
    log: () => readFile(logFile, 'utf8'),
    async [Symbol.asyncDispose]() {
      await stop('fast');
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Running and not a zombie: the postmaster is not our child, and whoever adopts it may not reap it. */
function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return false;
    throw err;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string): Promise<number> => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}
