import {
  apiErrorSchema,
  describeIssues,
  enrollResponseSchema,
  type EnrollRequest,
  type EnrollResponse,
} from '@edgestelle/protocol';
import { AgentError, AgentErrorCode } from './errors.ts';
import { ensureStateDir, resolveNodeId, writeCredentials } from './state-dir.ts';

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
 * keeps them in the state dir, readable by the agent's user only.
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
  const request: EnrollRequest = { token: options.token, nodeId, name: options.name };
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
    throw new AgentError(AgentErrorCode.enrollFailed, `the master refused enrollment (${detail})`);
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
