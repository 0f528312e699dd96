import {
  apiErrorSchema,
  describeIssues,
  enrollResponseSchema,
  type EnrollKeyProof,
  type EnrollRequest,
  type EnrollResponse,
} from '@edgestelle/protocol';
import { signEnrollProof } from '@edgestelle/protocol/envelope';
import { AgentError, AgentErrorCode } from './errors.ts';
import { ensureStateDir, readCredentials, resolveNodeId, writeCredentials } from './state-dir.ts';

export interface EnrollOptions {
  masterUrl: string;
  token: string;
  stateDir: string;
  /** A configured node id; otherwise the state dir's (made now if new). */
  nodeId?: string | undefined;
  name: string;
  timeoutMs?: number;
}

export interface EnrollResult {
  credentials: EnrollResponse;
  credentialsPath: string;
  /** The state dir was open to other users and is 0700 now: tell the operator. */
  stateDirWarning: string | undefined;
}

/**
 * Trades a join token for this node's key and broker credentials (`POST /api/v1/enroll`) and
 * keeps them in the state dir, readable by the agent's user only. Enrolling again from a state
 * dir that holds the node's key sends proof of that key (the master needs it, or a join token
 * made for the node id, to re-key an enrolled node).
 */
export async function enroll(options: EnrollOptions): Promise<EnrollResult> {
  if (!URL.canParse(options.masterUrl) || !/^https?:$/.test(new URL(options.masterUrl).protocol)) {
    throw new AgentError(
      AgentErrorCode.usage,
      `--master must be an http:// or https:// URL, not '${options.masterUrl}'`,
    );
  }
  const stateDirWarning = ensureStateDir(options.stateDir);
  const nodeId = resolveNodeId(options.stateDir, options.nodeId);
  const held = heldKeyProof(options.stateDir, nodeId, options.token);
  const request: EnrollRequest = {
    token: options.token,
    nodeId,
    name: options.name,
    ...(held.keyProof === undefined ? {} : { keyProof: held.keyProof }),
  };
  const url = new URL('api/v1/enroll', options.masterUrl.endsWith('/') ? options.masterUrl : `${options.masterUrl}/`);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (cause) {
    throw new AgentError(
      AgentErrorCode.enrollFailed,
      `cannot reach the master at ${url.origin}: check --master and the network`,
      { cause },
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new AgentError(
      AgentErrorCode.enrollFailed,
      `the master answered HTTP ${response.status} without JSON: is --master the EdgeStelle master?`,
      { cause },
    );
  }
  if (!response.ok) {
    const apiError = apiErrorSchema.safeParse(body);
    const detail = apiError.success ? `${apiError.data.code}: ${apiError.data.message}` : `HTTP ${response.status}`;
    const unproven = held.unreadable === undefined ? '' : `; no proof of the node's key was sent: ${held.unreadable}`;
    throw new AgentError(AgentErrorCode.enrollFailed, `the master refused enrollment (${detail})${unproven}`);
  }
  const parsed = enrollResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new AgentError(
      AgentErrorCode.enrollFailed,
      `the master's enrollment answer is invalid: ${describeIssues(parsed.error)}`,
    );
  }
  const credentialsPath = writeCredentials(options.stateDir, parsed.data);
  return { credentials: parsed.data, credentialsPath, stateDirWarning };
}

/**
 * Credentials this state dir already holds for the node id prove to the master that this is the
 * node (an enrolled id enrolls again only so, or with a token made for it). A file that cannot be
 * read proves nothing and must not stop the enrollment meant to replace it.
 */
function heldKeyProof(
  stateDir: string,
  nodeId: string,
  joinToken: string,
): { keyProof?: EnrollKeyProof; unreadable?: string } {
  let held: EnrollResponse | undefined;
  try {
    held = readCredentials(stateDir);
  } catch (err) {
    if (err instanceof AgentError && err.code === AgentErrorCode.credentialsInvalid) return { unreadable: err.message };
    throw err;
  }
  if (held?.nodeId !== nodeId) return {};
  const sentAt = Date.now();
  const fields = { nodeId, keyId: held.keyId, joinToken, sentAtMs: sentAt };
  const mac = signEnrollProof(Buffer.from(held.nodeKey, 'base64'), fields);
  return { keyProof: { keyId: held.keyId, sentAt, mac } };
}
