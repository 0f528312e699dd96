import { AppError } from '@edgestelle/protocol';

/** The master's one error catalogue. Codes are API surface (docs/API.md): never rename one. */
export const MasterErrorCode = {
  invalidRequest: 'invalid_request',
  invalidParams: 'invalid_params',
  unknownNodes: 'unknown_nodes',
  noMatchingNodes: 'no_matching_nodes',
  noOnlineNodes: 'no_online_nodes',
  ptyUnavailable: 'pty_unavailable',
  unauthenticated: 'unauthenticated',
  csrfFailed: 'csrf_failed',
  forbidden: 'forbidden',
  joinTokenInvalid: 'join_token_invalid',
  nodeExists: 'node_exists',
  notFound: 'not_found',
  conflict: 'conflict',
  payloadTooLarge: 'payload_too_large',
  tooManyRequests: 'too_many_requests',
  internal: 'internal',
  unavailable: 'unavailable',
  configInvalid: 'config_invalid',
  portInUse: 'port_in_use',
  brokerSecurityRefused: 'broker_security_refused',
  brokerSecurityTimeout: 'broker_security_timeout',
  brokerSecurityUnreachable: 'broker_security_unreachable',
  brokerUsernameInvalid: 'broker_username_invalid',
} as const;
export type MasterErrorCode = (typeof MasterErrorCode)[keyof typeof MasterErrorCode];

/**
 * A code without a status fails to compile. Startup codes never reach HTTP; 500 is their honest
 * answer. The broker-security codes (Mosquitto's users and ACLs, mosquitto-sync/) name the cause
 * in logs; a request that needed the change gets `unavailable` (master.ts wraps them), and the
 * statuses below are what they would mean on their own.
 */
export const httpStatusByCode: Record<MasterErrorCode, number> = {
  invalid_request: 400,
  invalid_params: 400,
  unknown_nodes: 400,
  no_matching_nodes: 400,
  no_online_nodes: 400,
  pty_unavailable: 400,
  unauthenticated: 401,
  csrf_failed: 403,
  forbidden: 403,
  join_token_invalid: 403,
  not_found: 404,
  conflict: 409,
  node_exists: 409,
  payload_too_large: 413,
  too_many_requests: 429,
  internal: 500,
  unavailable: 503,
  config_invalid: 500,
  port_in_use: 500,
  broker_security_refused: 503,
  broker_security_timeout: 503,
  broker_security_unreachable: 503,
  broker_username_invalid: 500,
};

export class MasterError extends AppError<MasterErrorCode> {
  override readonly name = 'MasterError';
  readonly field: string | undefined;
  /** Sent as the Retry-After header (seconds) with a 429. */
  readonly retryAfterSec: number | undefined;

  constructor(
    code: MasterErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string; retryAfterSec?: number },
  ) {
    super(code, message, options);
    this.field = options?.field;
    this.retryAfterSec = options?.retryAfterSec;
  }
}

export function notFound(what: string): MasterError {
  return new MasterError(MasterErrorCode.notFound, `${what} does not exist`);
}
