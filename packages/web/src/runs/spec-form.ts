import { limits, type RunSpecInput } from '@edgestelle/protocol';

/** The Run form's working directory, arguments (one a line), PTY and merge switches, as typed. */
export interface SpecFields {
  cwd: string;
  argsText: string;
  pty: boolean;
  mergeStderr: boolean;
}

export type SpecProblem = { kind: 'cwdNotAbsolute' } | { kind: 'tooManyArgs'; limit: number };

/**
 * The spec fields the form adds to a command or script: an empty field is left out, so the
 * node's defaults hold (a private temp folder, no arguments, pipes). One argument a line keeps
 * spaces and quotes literal, as the node passes them ($1, $2, … or the script's argv); blank
 * lines are left out. The master checks the same limits.
 */
export function checkSpecFields(fields: SpecFields): {
  spec: Pick<RunSpecInput, 'cwd' | 'args' | 'pty' | 'mergeStderr'>;
  problem: SpecProblem | null;
} {
  const cwd = fields.cwd.trim();
  const args = fields.argsText.split('\n').filter((line) => line.trim() !== '');
  const spec = {
    ...(cwd === '' ? {} : { cwd }),
    ...(args.length === 0 ? {} : { args }),
    ...(fields.pty ? { pty: true } : {}),
    ...(fields.mergeStderr ? { mergeStderr: true } : {}),
  };
  if (cwd !== '' && !cwd.startsWith('/')) return { spec, problem: { kind: 'cwdNotAbsolute' } };
  if (args.length > limits.argsMaxCount) return { spec, problem: { kind: 'tooManyArgs', limit: limits.argsMaxCount } };
  return { spec, problem: null };
}
