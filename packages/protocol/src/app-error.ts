/**
 * The one error shape every package uses: a stable string code a program can switch on, a
 * message a person can act on, and the underlying cause for the logs. Each package keeps its
 * own catalogue of codes; this class only carries them.
 */
export class AppError<Code extends string = string> extends Error {
  override readonly name: string = 'AppError';
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** What goes on the wire or into a JSON response: never a stack. */
  toJSON(): { code: Code; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Turns anything thrown into a message fit for a log line or a one-line CLI error. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
