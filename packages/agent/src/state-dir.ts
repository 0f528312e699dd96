import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describeIssues, enrollResponseSchema, isValidNodeId, type EnrollResponse } from '@edgestelle/protocol';
import { AgentError, AgentErrorCode } from './errors.ts';
import { errnoCode, isNotFound } from './fs-errors.ts';

/**
 * The agent's folder (0700): `node-id`, `credentials.json` (0600), `connection-seq`,
 * `ledger.jsonl` and `spool/`. Everything the agent must remember across restarts lives here.
 */
export const stateFiles = {
  nodeId: 'node-id',
  credentials: 'credentials.json',
  connectionSeq: 'connection-seq',
  ledger: 'ledger.jsonl',
  spool: 'spool',
} as const;

export function ensureStateDir(stateDir: string): void {
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new AgentError(
      AgentErrorCode.stateDirUnusable,
      `cannot create the state dir ${stateDir} (${errnoCode(cause) ?? String(cause)}): set EDGESTELLE_STATE_DIR to a writable folder`,
      { cause },
    );
  }
}

/** Writes a small file so that a crash leaves either the old or the new content, never half. */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', mode);
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
  writeFileAtomic(path, `${made}\n`, 0o644);
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
  writeFileAtomic(path, `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
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
  writeFileAtomic(path, `${next}\n`, 0o644);
  return next;
}
