import { AppError, ExitCode } from '@edgestelle/protocol';

/** The CLI's one error catalogue. Each code has exactly one exit status (a missing one fails to compile). */
export const CliErrorCode = {
  usage: 'usage',
  invalidRequest: 'invalid_request',
  conflict: 'conflict',
  notFound: 'not_found',
  unreachable: 'unreachable',
  unavailable: 'unavailable',
  throttled: 'throttled',
  masterFailed: 'master_failed',
  badResponse: 'bad_response',
  notLoggedIn: 'not_logged_in',
  unauthenticated: 'unauthenticated',
  forbidden: 'forbidden',
  configIo: 'config_io',
  fileIo: 'file_io',
  configInvalid: 'config_invalid',
  interrupted: 'interrupted',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

export const exitCodeByError: Record<CliErrorCode, ExitCode> = {
  usage: ExitCode.usage,
  invalid_request: ExitCode.usage,
  conflict: ExitCode.dataError,
  not_found: ExitCode.notFound,
  unreachable: ExitCode.unavailable,
  unavailable: ExitCode.unavailable,
  throttled: ExitCode.tempFailure,
  master_failed: ExitCode.software,
  bad_response: ExitCode.protocol,
  not_logged_in: ExitCode.noPermission,
  unauthenticated: ExitCode.noPermission,
  forbidden: ExitCode.noPermission,
  config_io: ExitCode.ioError,
  file_io: ExitCode.ioError,
  config_invalid: ExitCode.config,
  interrupted: ExitCode.interrupted,
};

export class CliError extends AppError<CliErrorCode> {
  override readonly name = 'CliError';
  /** The master's own error code (`no_matching_nodes`, …) when the error came from its API. */
  readonly apiCode: string | undefined;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown; apiCode?: string }) {
    super(code, message, options);
    this.apiCode = options?.apiCode;
  }

  get exitCode(): ExitCode {
    return exitCodeByError[this.code];
  }
}

export function usageError(message: string, options?: { cause?: unknown }): CliError {
  return new CliError(CliErrorCode.usage, message, options);
}
