import { AppError } from '@edgestelle/protocol';

/**
 * Why a change to the broker's users and ACLs failed. Kept beside the module until the master
 * has its one catalogue; the codes are stable strings for logs and API errors.
 */
export const MosquittoSyncErrorCode = {
  brokerRefused: 'broker_security_refused',
  brokerTimeout: 'broker_security_timeout',
  brokerUnreachable: 'broker_security_unreachable',
  usernameInvalid: 'broker_username_invalid',
} as const;

export type MosquittoSyncErrorCode = (typeof MosquittoSyncErrorCode)[keyof typeof MosquittoSyncErrorCode];

export class MosquittoSyncError extends AppError<MosquittoSyncErrorCode> {
  override readonly name = 'MosquittoSyncError';
}
