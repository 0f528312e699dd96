import { envKeySchema, limits } from '@edgestelle/protocol';

/** One variable in the Run form; `secret` sends it as secretEnv (stored sealed, shown as ***). */
export interface EnvRow {
  name: string;
  value: string;
  secret: boolean;
}

export type EnvProblem =
  | { kind: 'name'; name: string }
  | { kind: 'duplicate'; name: string }
  | { kind: 'plainWithLibrary'; name: string }
  | { kind: 'tooMany'; limit: number };

/**
 * The form's variables as JobCreate takes them: plain ones for the spec's env, secret ones for
 * the job's secretEnv. A row with neither name nor value is left out. A library script runs as
 * saved, so it takes secret variables only (plain values belong in its parameters). The first
 * problem found is returned, naming the variable; the master checks values the same way.
 */
export function checkEnvRows(
  rows: readonly EnvRow[],
  library: boolean,
): { env: Record<string, string>; secretEnv: Record<string, string>; problem: EnvProblem | null } {
  const env: Record<string, string> = {};
  const secretEnv: Record<string, string> = {};
  const result = (problem: EnvProblem | null) => ({ env, secretEnv, problem });
  let count = 0;
  for (const row of rows) {
    const name = row.name.trim();
    if (name === '' && row.value === '') continue;
    if (!envKeySchema.safeParse(name).success) return result({ kind: 'name', name });
    if (Object.hasOwn(env, name) || Object.hasOwn(secretEnv, name)) return result({ kind: 'duplicate', name });
    if (library && !row.secret) return result({ kind: 'plainWithLibrary', name });
    (row.secret ? secretEnv : env)[name] = row.value;
    count += 1;
  }
  return result(count > limits.envMaxCount ? { kind: 'tooMany', limit: limits.envMaxCount } : null);
}
