import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describeIssues, enrollResponseSchema, isValidNodeId, type EnrollResponse } from '@edgestelle/protocol';
import { ensurePrivateDir, octalMode, type Privacy } from '@edgestelle/protocol/private-files';
import { AgentError, AgentErrorCode } from './errors.ts';
import { errnoCode, isNotFound } from './fs-errors.ts';

/**
 * The agent's folder (0700, kept so): `node-id`, `credentials.json`, `connection-seq`,
 * `ledger.jsonl` (each 0600) and `spool/` (0700). Everything the agent must remember across
 * restarts lives here.
 */
export const stateFiles = {
  nodeId: 'node-id',
  credentials: 'credentials.json',
  connectionSeq: 'connection-seq',
  ledger: 'ledger.jsonl',
  spool: 'spool',
} as const;

/**
 * Makes the state dir, or keeps it, 0700: one open to group or others is tightened if it is the
 * agent's user's (the returned warning says so, for the log), and refused if it is another
 * user's.
 */
export function ensureStateDir(stateDir: string): string | undefined {
  let found: Privacy;
  try {
    found = ensurePrivateDir(stateDir);
  } catch (cause) {
    throw new AgentError(
      AgentErrorCode.stateDirUnusable,
      `cannot create the state dir ${stateDir} (${errnoCode(cause) ?? String(cause)}): set EDGESTELLE_STATE_DIR to a writable folder`,
      { cause },
    );
  }
  switch (found.state) {
    case 'private':
      return undefined;
    case 'tightened':
      return `the state dir ${stateDir} was open to other users (mode ${octalMode(found.mode)}): made it 0700`;
    case 'foreign':
      throw new AgentError(
        AgentErrorCode.stateDirUnusable,
        `the state dir ${stateDir} is open to other users (mode ${octalMode(found.mode)}) and belongs to uid ${found.ownerUid}, not to the agent's uid ${found.processUid}: chown it to the agent's user, or chmod 700 it`,
      );
  }
}

/**
 * Writes a small file (0600) so that a crash leaves either the old or the new content, never
 * half. A new file each time: whatever mode an older file had goes with it.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A readable default: the host name made id-safe, plus randomness so clones of one image differ. */
export function generateNodeId(host: string = hostname()): string {
  const base = host
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const suffix = randomBytes(4).toString('hex');
  return base === '' ? `node-${suffix}` : `${base}-${suffix}`;
}

/** The configured id wins; otherwise the one kept in the state dir, made on first start. */
export function resolveNodeId(stateDir: string, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const path = join(stateDir, stateFiles.nodeId);
  const kept = readOptional(path)?.trim();
  if (kept !== undefined) {
    if (!isValidNodeId(kept)) {
      throw new AgentError(
        AgentErrorCode.stateDirUnusable,
        `${path} holds an invalid node id: fix or delete the file, or set EDGESTELLE_NODE_ID`,
      );
    }
    return kept;
  }
  const made = generateNodeId();
  writeFileAtomic(path, `${made}\n`);
  return made;
}

export function readCredentials(stateDir: string): EnrollResponse | undefined {
  const path = join(stateDir, stateFiles.credentials);
  const text = readOptional(path);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AgentError(AgentErrorCode.credentialsInvalid, `${path} is not JSON: enroll again`, { cause });
  }
  const parsed = enrollResponseSchema.safeParse(json);
  if (!parsed.success) {
    throw new AgentError(
      AgentErrorCode.credentialsInvalid,
      `${path} is invalid (${describeIssues(parsed.error)}): enroll again`,
    );
  }
  return parsed.data;
}

export function writeCredentials(stateDir: string, credentials: EnrollResponse): string {
  const path = join(stateDir, stateFiles.credentials);
  writeFileAtomic(path, `${JSON.stringify(credentials, null, 2)}\n`);
  return path;
}

/**
 * The per-connection sequence of the retained state and the will: persisted before each
 * connection, so it only grows, across restarts too.
 */
export function nextConnectionSeq(stateDir: string): number {
  const path = join(stateDir, stateFiles.connectionSeq);
  const text = readOptional(path)?.trim();
  const last = text !== undefined && /^\d+$/.test(text) ? Number(text) : 0;
  const next = last + 1;
  writeFileAtomic(path, `${next}\n`);
  return next;
}
