import { closeSync, constants, openSync } from 'node:fs';
import { ensurePrivateDir, ensurePrivateFile, octalMode, type Privacy } from '@edgestelle/protocol/private-files';
import type { Logger } from 'pino';
import { MasterError, MasterErrorCode } from './errors.ts';

/**
 * Only the master's user reads what it keeps: its data dir is 0700 and every file in it 0600
 * (the database with its -wal and -shm, which SQLite makes with the main file's mode, and the
 * secrets). Set explicitly, never left to the umask; tightened at start when they are the
 * master's own, refused when another user's are open to others (docs/OPERATIONS.md).
 */
export function ensurePrivateDataDir(path: string, logger: Logger | undefined): void {
  let found: Privacy;
  try {
    found = ensurePrivateDir(path);
  } catch (cause) {
    throw new MasterError(MasterErrorCode.configInvalid, `cannot create the data dir ${path}: ${String(cause)}`, {
      cause,
    });
  }
  report(found, path, `the data dir ${path}`, '700', logger);
}

/**
 * Makes the file 0600 (creating it empty, if `create`) or keeps it so; a file that is not there
 * and need not be made is fine.
 */
export function ensurePrivateDataFile(path: string, create: boolean, logger: Logger | undefined): void {
  let fd: number;
  try {
    fd = openSync(path, create ? constants.O_RDONLY | constants.O_CREAT : constants.O_RDONLY, 0o600);
  } catch (cause) {
    if (!create && cause instanceof Error && 'code' in cause && cause.code === 'ENOENT') return;
    throw new MasterError(MasterErrorCode.configInvalid, `cannot open ${path}: ${String(cause)}`, { cause });
  }
  try {
    report(ensurePrivateFile(fd), path, path, '600', logger);
  } finally {
    closeSync(fd);
  }
}

function report(found: Privacy, path: string, label: string, wanted: string, logger: Logger | undefined): void {
  switch (found.state) {
    case 'private':
      return;
    case 'tightened':
      logger?.warn({ path, mode: octalMode(found.mode) }, `${label} was open to other users: made it 0${wanted}`);
      return;
    case 'foreign':
      throw new MasterError(
        MasterErrorCode.configInvalid,
        `${label} is open to other users (mode ${octalMode(found.mode)}) and belongs to uid ${found.ownerUid}, not to the master's uid ${found.processUid}: chown it to the master's user, or chmod ${wanted} it`,
      );
  }
}
