import { AppError } from '@edgestelle/protocol';

/** Every way the agent refuses to start or to carry on; the codes go into logs and exit messages. */
export const AgentErrorCode = {
  configInvalid: 'config_invalid',
  usage: 'usage',
  stateDirUnusable: 'state_dir_unusable',
  credentialsInvalid: 'credentials_invalid',
  enrollFailed: 'enroll_failed',
  /** The broker keeps refusing the node's credentials: revoked, or enrolled elsewhere since. */
  brokerRefused: 'broker_refused',
  spoolCorrupt: 'spool_corrupt',
  ledgerCorrupt: 'ledger_corrupt',
  spawnFailed: 'spawn_failed',
  ptyUnavailable: 'pty_unavailable',
  runAsUnavailable: 'run_as_unavailable',
  illegalTransition: 'illegal_transition',
} as const;

export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

export class AgentError extends AppError<AgentErrorCode> {
  override readonly name = 'AgentError';
}
