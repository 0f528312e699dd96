import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.ts';
import { tempDir, type TempDir } from './temp-dir.ts';

export const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /**
   * Config lines after the listener. Default: anonymous clients allowed, no persistence and a
   * queue deep enough not to drop QoS 1 messages (Mosquitto's default of 1000 does).
   */
  config?: string;
  /** Extra files to write into the broker's folder first (password file, ACL, certificates). */
  files?: Record<string, string | Uint8Array>;
  /** Listen with TLS etc.: give the whole `listener` block yourself and leave port to us. */
  listenerConfig?: (port: number, dir: string) => string;
}

export interface Mosquitto extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  pid(): number | undefined;
  /** SIGKILL, as a crash would; the port stays reserved for {@link start}. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  start(): Promise<void>;
  /** SIGHUP: Mosquitto re-reads its password file and ACL. */
  reload(): void;
  stop(): Promise<void>;
  /** What the broker logged, for assertions and failure messages. */
  log(): string;
}

const DEFAULT_CONFIG = ['allow_anonymous true', 'persistence false', 'max_queued_messages 100000'].join('\n');

/**
 * A private Mosquitto from Debian's binary on a free port, for tests that kill, restart or
 * misconfigure a broker. Never the machine's shared one on 1883.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!existsSync(MOSQUITTO_BIN)) {
    throw new Error(`${MOSQUITTO_BIN} not found: install Debian's mosquitto (apt-get install mosquitto)`);
  }
  const dir: TempDir = await tempDir('edgestelle-mosquitto-');
  const port = await freePort();
  for (const [name, content] of Object.entries(options.files ?? {})) {
    await writeFile(join(dir.path, name), content, { mode: 0o600 });
  }
  const listener = options.listenerConfig?.(port, dir.path) ?? `listener ${port} 127.0.0.1`;
  const configPath = join(dir.path, 'mosquitto.conf');
  await writeFile(configPath, `${listener}\n${options.config ?? DEFAULT_CONFIG}\n`);

  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    if (child !== undefined) throw new Error('mosquitto is already running');
    const proc = spawn(MOSQUITTO_BIN, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    const append = (b: Buffer): void => {
      output += b.toString('utf8');
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`mosquitto exited with ${code} before listening:\n${output}`))),
    );
    // A port freshly released by a killed broker can take a moment to be bindable again.
    await Promise.race([waitForPort(port, 10_000), exited]);
  }

  async function stopWith(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    if (proc === undefined) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await gone;
  }

  try {
    await start();
  } catch (err) {
    // A broker that never came up (a broken config, say) leaves nothing behind either.
    await dir[Symbol.asyncDispose]();
    throw err;
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir: dir.path,
    pid: () => child?.pid,
    kill: () => stopWith('SIGKILL'),
    start,
    reload: () => {
      child?.kill('SIGHUP');
    },
    stop: () => stopWith('SIGTERM'),
    log: () => output,
    async [Symbol.asyncDispose]() {
      await stopWith('SIGTERM');
      await dir[Symbol.asyncDispose]();
    },
  };
}
