import { scriptParameterSchema, type ScriptParameterInput } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { MasterError } from '../errors.ts';
import { bindParams } from './script-params.ts';

const params = (list: ScriptParameterInput[]) => list.map((p) => scriptParameterSchema.parse(p));

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof MasterError && err.code === 'invalid_params') return err.field;
    throw err;
  }
  return undefined;
}

describe('bindParams', () => {
  const defs = params([
    { name: 'host', type: 'string', required: true, pattern: '[a-z0-9.-]+' },
    { name: 'count', type: 'number', integer: true, min: 1, max: 10, default: 3 },
    { name: 'dry_run', type: 'boolean', default: false },
    { name: 'level', type: 'choice', choices: ['info', 'debug'] },
  ]);

  it('fills defaults and passes every value as PARAM_<NAME>, untouched', () => {
    const bound = bindParams(defs, { host: 'db-1.example', level: 'debug' });
    expect(bound.values).toEqual({ host: 'db-1.example', count: 3, dry_run: false, level: 'debug' });
    expect(bound.env).toEqual({
      PARAM_HOST: 'db-1.example',
      PARAM_COUNT: '3',
      PARAM_DRY_RUN: 'false',
      PARAM_LEVEL: 'debug',
    });
  });

  it('takes the CLI text form of numbers and booleans', () => {
    expect(bindParams(defs, { host: 'a', count: '7', dry_run: 'true' }).values).toMatchObject({
      count: 7,
      dry_run: true,
    });
  });

  it('leaves an optional parameter without value and default unset', () => {
    expect(bindParams(defs, { host: 'a' }).env).not.toHaveProperty('PARAM_LEVEL');
  });

  it('refuses, naming the field: missing, unknown, wrong type, out of range, pattern, choice', () => {
    expect(fieldOf(() => bindParams(defs, {}))).toBe('params.host');
    expect(fieldOf(() => bindParams(defs, { host: 'a', colour: 'x' }))).toBe('params.colour');
    expect(fieldOf(() => bindParams(defs, { host: 'a', count: 'many' }))).toBe('params.count');
    expect(fieldOf(() => bindParams(defs, { host: 'a', count: 11 }))).toBe('params.count');
    expect(fieldOf(() => bindParams(defs, { host: 'a', count: 2.5 }))).toBe('params.count');
    expect(fieldOf(() => bindParams(defs, { host: 'a; rm -rf /' }))).toBe('params.host');
    expect(fieldOf(() => bindParams(defs, { host: 'a', dry_run: 'yes' }))).toBe('params.dry_run');
    expect(fieldOf(() => bindParams(defs, { host: 'a', level: 'trace' }))).toBe('params.level');
  });
});
