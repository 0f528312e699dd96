import { limits, type ScriptParameter, type ScriptParams } from '@edgestelle/protocol';
import { usageError } from './cli-error.ts';
import { parseAssignments } from './parse-args.ts';

/**
 * `--param name=value` words checked against a library script's parameters before the job
 * is created, so a typo or a wrong type is one clear line and no job. The master checks them
 * again (docs/API.md); this only saves a round trip and a half-made job. Values are sent as
 * the parameter's own type: numbers as numbers, booleans as booleans. Defaults are left to
 * the master, which records them in the job.
 */
export function bindParamFlags(
  scriptName: string,
  parameters: readonly ScriptParameter[],
  pairs: readonly string[],
): ScriptParams {
  const given = parseAssignments(pairs, '--param');
  const known = new Map(parameters.map((p) => [p.name, p]));
  const params: ScriptParams = {};
  for (const [name, text] of Object.entries(given)) {
    const parameter = known.get(name);
    if (parameter === undefined) {
      const names = parameters.map((p) => p.name).join(', ');
      throw usageError(
        `--param: ${scriptName} has no parameter '${name}' (${names === '' ? 'it takes none' : `it has: ${names}`})`,
      );
    }
    params[name] = convert(parameter, text);
  }
  const missing = parameters.filter((p) => p.required && p.default === undefined && !(p.name in given));
  if (missing.length > 0) {
    throw usageError(`${scriptName} needs ${missing.map((p) => `--param ${p.name}=${placeholder(p)}`).join(' ')}`);
  }
  return params;
}

function convert(parameter: ScriptParameter, text: string): string | number | boolean {
  const flag = `--param ${parameter.name}`;
  switch (parameter.type) {
    case 'string': {
      const max = parameter.maxLength ?? limits.envValueMaxChars;
      if (text.length > max) throw usageError(`${flag}: longer than ${max} characters`);
      if (text.includes('\0')) throw usageError(`${flag}: must not contain NUL`);
      if (parameter.pattern !== undefined && !new RegExp(`^(?:${parameter.pattern})$`, 'u').test(text)) {
        throw usageError(`${flag}: '${text}' does not match ${parameter.pattern}`);
      }
      return text;
    }
    case 'number': {
      const n = text.trim() === '' ? Number.NaN : Number(text);
      if (!Number.isFinite(n)) throw usageError(`${flag}: '${text}' is not a number`);
      if (parameter.integer && !Number.isInteger(n)) throw usageError(`${flag}: '${text}' is not a whole number`);
      if (parameter.min !== undefined && n < parameter.min) throw usageError(`${flag}: ${n} is below ${parameter.min}`);
      if (parameter.max !== undefined && n > parameter.max) throw usageError(`${flag}: ${n} is above ${parameter.max}`);
      return n;
    }
    case 'boolean': {
      if (text === 'true' || text === 'false') return text === 'true';
      throw usageError(`${flag}: '${text}' is neither true nor false`);
    }
    case 'choice': {
      if (!parameter.choices.includes(text)) {
        throw usageError(`${flag}: '${text}' is not one of ${parameter.choices.join(', ')}`);
      }
      return text;
    }
  }
}

/** What a value looks like, for the "needs --param" hint. */
export function placeholder(parameter: ScriptParameter): string {
  switch (parameter.type) {
    case 'string':
      return 'TEXT';
    case 'number':
      return parameter.integer ? 'N' : 'NUMBER';
    case 'boolean':
      return 'true|false';
    case 'choice':
      return parameter.choices.join('|');
  }
}
