import type { ScriptParameter } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { CliError } from './cli-error.ts';
import { bindParamFlags } from './script-params.ts';

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError && err.code === 'usage') return err.message;
    throw err;
  }
  throw new Error('expected a usage error');
}

const common = { description: '', required: false };
const parameters: ScriptParameter[] = [
  { ...common, name: 'unit', type: 'string', required: true, pattern: '[a-z;$ ]+' },
  { ...common, name: 'lines', type: 'number', integer: true, min: 0, max: 500, default: 20 },
  { ...common, name: 'mode', type: 'choice', choices: ['restart', 'reload'] },
  { ...common, name: 'dry_run', type: 'boolean' },
];

describe('bindParamFlags', () => {
  it('sends each value as its parameter’s type and leaves defaults to the master', () => {
    expect(bindParamFlags('u', parameters, ['unit=a; rm $x', 'lines=7', 'mode=reload', 'dry_run=true'])).toEqual({
      unit: 'a; rm $x',
      lines: 7,
      mode: 'reload',
      dry_run: true,
    });
    expect(bindParamFlags('u', parameters, ['unit=x'])).toEqual({ unit: 'x' });
  });

  it('refuses unknown names, missing required values and wrong types, naming the flag', () => {
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'colour=red']))).toBe(
      "--param: u has no parameter 'colour' (it has: unit, lines, mode, dry_run)",
    );
    expect(usage(() => bindParamFlags('u', [], ['a=1']))).toMatch(/it takes none/);
    expect(usage(() => bindParamFlags('u', parameters, []))).toBe('u needs --param unit=TEXT');
    expect(usage(() => bindParamFlags('u', parameters, ['unit=X']))).toMatch(/^--param unit: 'X' does not match/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'lines=1.5']))).toMatch(/not a whole number/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'lines=600']))).toMatch(/600 is above 500/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'lines=']))).toMatch(/'' is not a number/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'mode=stop']))).toMatch(/one of restart, reload/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'dry_run=yes']))).toMatch(/neither true nor false/);
    expect(usage(() => bindParamFlags('u', parameters, ['unit=x', 'unit=y']))).toMatch(/given twice/);
  });
});
