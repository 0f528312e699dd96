import { AppError } from '@edgestelle/protocol';

/** The benchmarks' one error catalogue. */
export const BenchErrorCode = {
  /** A child process (master, fleet, agent) did not start or answer. */
  childFailed: 'child_failed',
  /** Something the scenario waits for did not happen in time. */
  timeout: 'timeout',
  /** The master answered an API call with an error. */
  apiFailed: 'api_failed',
  /** A flag or a missing tool. */
  usage: 'usage',
} as const;
export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode];

export class BenchError extends AppError<BenchErrorCode> {
  override readonly name = 'BenchError';
}
