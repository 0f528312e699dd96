import { AppError } from './app-error.ts';

/**
 * Why the protocol layer refused something. Receivers count rejections per code, so these
 * strings are part of the public surface (metrics labels, logs): never rename one.
 */
export const ProtocolErrorCode = {
  topicInvalid: 'topic_invalid',
  nodeIdInvalid: 'node_id_invalid',
  envelopeTooShort: 'envelope_too_short',
  envelopeTooLarge: 'envelope_too_large',
  envelopeVersion: 'envelope_version',
  envelopeUnknownKey: 'envelope_unknown_key',
  envelopeAuthFailed: 'envelope_auth_failed',
  commandStale: 'command_stale',
  commandFromFuture: 'command_from_future',
  bodyMalformed: 'body_malformed',
  bodyInvalid: 'body_invalid',
} as const;

export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export const protocolErrorCodes: readonly ProtocolErrorCode[] = Object.values(ProtocolErrorCode);

export class ProtocolError extends AppError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError';
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
