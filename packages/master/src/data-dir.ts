import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateMasterSecret } from '@edgestelle/protocol/envelope';
import type { Logger } from 'pino';
import { MasterError, MasterErrorCode } from './errors.ts';
import { ensurePrivateDataDir, ensurePrivateDataFile } from './private-files.ts';

/**
 * The master's private files, in its 0700 data dir. Each is created once with mode 0600 and
 * read back (and kept 0600) on every later start; losing `master.key` means every enrolled node
 * must enroll again.
 */
export interface DataDir {
  readonly path: string;
  readonly masterSecret: Buffer;
  /** The master's own broker password (embedded broker). */
  readonly masterMqttPassword: string;
  /** This master's stable name among several (its MQTT client id with shared subscriptions). */
  readonly masterId: string;
}

export const INITIAL_ADMIN_PASSWORD_FILE = 'initial-admin-password';

/**
 * @param masterKeyFile a shared secret for several masters (EDGESTELLE_MASTER_KEY_FILE); it
 *   must exist. Without it the secret is `<dataDir>/master.key`, made on the first start.
 */
export async function openDataDir(path: string, masterKeyFile?: string, logger?: Logger): Promise<DataDir> {
  ensurePrivateDataDir(path, logger);
  const keyPath = masterKeyFile ?? join(path, 'master.key');
  let masterSecret: Buffer;
  try {
    masterSecret =
      masterKeyFile === undefined
        ? await readOrCreate(keyPath, () => generateMasterSecret(), logger)
        : await readFile(masterKeyFile);
  } catch (cause) {
    if (cause instanceof MasterError) throw cause;
    throw new MasterError(MasterErrorCode.configInvalid, `cannot read the master key ${keyPath}: ${String(cause)}`, {
      cause,
    });
  }
  if (masterSecret.byteLength !== 32) {
    throw new MasterError(
      MasterErrorCode.configInvalid,
      `${keyPath} holds ${masterSecret.byteLength} bytes, not 32: restore it from a backup (head -c 32 /dev/urandom makes a new one)`,
    );
  }
  const mqttPassword = await readOrCreate(
    join(path, 'mqtt-master-password'),
    () => Buffer.from(randomBytes(32).toString('base64url')),
    logger,
  );
  const masterId = await readOrCreate(
    join(path, 'master-id'),
    () => Buffer.from(randomBytes(6).toString('hex')),
    logger,
  );
  return {
    path,
    masterSecret,
    masterMqttPassword: mqttPassword.toString('utf8').trim(),
    masterId: masterId.toString('utf8').trim(),
  };
}

async function readOrCreate(file: string, make: () => Buffer, logger: Logger | undefined): Promise<Buffer> {
  try {
    const kept = await readFile(file);
    // One made by hand (`head -c 32 /dev/urandom > master.key`) has the umask's mode.
    ensurePrivateDataFile(file, false, logger);
    return kept;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const value = make();
  // 'wx' fails if another process created it meanwhile; then its value is the one to use.
  try {
    await writeFile(file, value, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (!isExists(err)) throw err;
    return readFile(file);
  }
  await chmod(file, 0o600);
  return value;
}

export async function writePrivateFile(file: string, content: string): Promise<void> {
  await writeFile(file, content, { mode: 0o600 });
  await chmod(file, 0o600);
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'ENOENT';
}
function isExists(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'EEXIST';
}
