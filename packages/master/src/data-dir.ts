import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateMasterSecret } from '@edgestelle/protocol/envelope';
import { MasterError, MasterErrorCode } from './errors.ts';

/**
 * The master's private files. Each is created once with mode 0600 and read back on every
 * later start; losing `master.key` means every enrolled node must enroll again.
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
export async function openDataDir(path: string, masterKeyFile?: string): Promise<DataDir> {
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new MasterError(MasterErrorCode.configInvalid, `cannot create the data dir ${path}: ${String(cause)}`, {
      cause,
    });
  }
  const keyPath = masterKeyFile ?? join(path, 'master.key');
  let masterSecret: Buffer;
  try {
    masterSecret =
      masterKeyFile === undefined
        ? await readOrCreate(keyPath, () => generateMasterSecret())
        : await readFile(masterKeyFile);
  } catch (cause) {
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
  const mqttPassword = await readOrCreate(join(path, 'mqtt-master-password'), () =>
    Buffer.from(randomBytes(32).toString('base64url')),
  );
  const masterId = await readOrCreate(join(path, 'master-id'), () => Buffer.from(randomBytes(6).toString('hex')));
  return {
    path,
    masterSecret,
    masterMqttPassword: mqttPassword.toString('utf8').trim(),
    masterId: masterId.toString('utf8').trim(),
  };
}

async function readOrCreate(file: string, make: () => Buffer): Promise<Buffer> {
  try {
    return await readFile(file);
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
