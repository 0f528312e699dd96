/**
 * `edgestelle agent [flags]`: parses its own flags and runs the agent until a signal stops it.
 * Returns the process exit code.
 */
export function main(_argv: readonly string[]): Promise<number> {
  return Promise.reject(new Error('edgestelle agent is not part of this build yet'));
}
