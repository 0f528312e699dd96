import { limits, type ScriptParameter, type ScriptParams } from '@edgestelle/protocol';
import { MasterError, MasterErrorCode } from '../errors.ts';

export interface BoundParams {
  /** The values after defaults, as the job records them. */
  values: ScriptParams;
  /** `PARAM_<NAME>` for each value: how the script reads them. */
  env: Record<string, string>;
}

export function paramEnvName(name: string): string {
  return `PARAM_${name.toUpperCase()}`;
}

/**
 * Checks a job's params against a script version's parameters and turns them into
 * environment variables. Values never touch the script text, so no quoting can break out.
 */
export function bindParams(parameters: readonly ScriptParameter[], given: ScriptParams): BoundParams {
  const known = new Map(parameters.map((p) => [p.name, p]));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      const names = parameters.map((p) => p.name).join(', ');
      throw invalid(name, `the script has no parameter ${name} (it has: ${names === '' ? 'none' : names})`);
    }
  }
  const values: ScriptParams = {};
  const env: Record<string, string> = {};
  for (const parameter of parameters) {
    const value = given[parameter.name] ?? parameter.default;
    if (value === undefined) {
      if (parameter.required) throw invalid(parameter.name, `${parameter.name} is required`);
      continue;
    }
    const checked = check(parameter, value);
    values[parameter.name] = checked;
    env[paramEnvName(parameter.name)] = String(checked);
  }
  return { values, env };
}

function check(parameter: ScriptParameter, value: string | number | boolean): string | number | boolean {
  const name = parameter.name;
  switch (parameter.type) {
    case 'string': {
      if (typeof value !== 'string') throw invalid(name, `${name} must be a string`);
      const max = parameter.maxLength ?? limits.envValueMaxChars;
      if (value.length > max) throw invalid(name, `${name} is longer than ${max} characters`);
      if (value.includes('\0')) throw invalid(name, `${name} must not contain NUL`);
      if (parameter.pattern !== undefined && !new RegExp(`^(?:${parameter.pattern})$`, 'u').test(value)) {
        throw invalid(name, `${name} must match ${parameter.pattern}`);
      }
      return value;
    }
    case 'number': {
      // The CLI sends every --param as text: a numeric string is a number.
      const n =
        typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n)) throw invalid(name, `${name} must be a number`);
      if (parameter.integer && !Number.isInteger(n)) throw invalid(name, `${name} must be a whole number`);
      if (parameter.min !== undefined && n < parameter.min)
        throw invalid(name, `${name} must be at least ${parameter.min}`);
      if (parameter.max !== undefined && n > parameter.max)
        throw invalid(name, `${name} must be at most ${parameter.max}`);
      return n;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw invalid(name, `${name} must be true or false`);
    }
    case 'choice': {
      const text = String(value);
      if (!parameter.choices.includes(text)) {
        throw invalid(name, `${name} must be one of ${parameter.choices.join(', ')}`);
      }
      return text;
    }
  }
}

function invalid(name: string, message: string): MasterError {
  return new MasterError(MasterErrorCode.invalidParams, message, { field: `params.${name}` });
}
