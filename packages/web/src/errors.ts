import { AppError } from '@edgestelle/protocol';

/**
 * The console's own error codes. Errors the master answers keep the master's code
 * (docs/API.md), so a caller can switch on `unauthenticated`, `forbidden`, … as well.
 */
export const WebErrorCode = {
  network: 'network',
  badResponse: 'bad_response',
} as const;
export type WebErrorCode = (typeof WebErrorCode)[keyof typeof WebErrorCode];

export class WebError extends AppError<string> {
  override readonly name = 'WebError';
  readonly status: number | null;
  /** The request field at fault, when the master named one. */
  readonly field: string | null;

  constructor(code: string, message: string, options: { status?: number; field?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause });
    this.status = options.status ?? null;
    this.field = options.field ?? null;
  }
}
