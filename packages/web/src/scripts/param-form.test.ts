import { scriptParameterSchema, type ScriptParameterInput } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { checkParams, initialInputs } from './param-form.ts';

const params = (...input: ScriptParameterInput[]) => input.map((p) => scriptParameterSchema.parse(p));

describe('param form', () => {
  const parameters = params(
    { name: 'greeting', type: 'string', required: true, pattern: '[a-z ]+' },
    { name: 'count', type: 'number', integer: true, min: 1, max: 10, default: 3 },
    { name: 'loud', type: 'boolean' },
    { name: 'colour', type: 'choice', choices: ['red', 'green'] },
  );

  it('starts from the defaults', () => {
    expect(initialInputs(parameters)).toEqual({ greeting: '', count: '3', loud: false, colour: '' });
  });

  it('builds typed params and leaves empty optional ones to the master', () => {
    const inputs = { greeting: 'hello there', count: '7', loud: true, colour: '' };
    expect(checkParams(parameters, inputs)).toEqual({
      params: { greeting: 'hello there', count: 7, loud: true },
      problems: {},
    });
  });

  it('names every problem per parameter', () => {
    expect(checkParams(parameters, { greeting: '', count: '2.5', loud: false, colour: 'blue' }).problems).toEqual({
      greeting: { kind: 'required' },
      count: { kind: 'integer' },
      colour: { kind: 'choice' },
    });
    expect(checkParams(parameters, { greeting: 'Hi; rm -rf /', count: '11' }).problems).toEqual({
      greeting: { kind: 'pattern', limit: '[a-z ]+' },
      count: { kind: 'max', limit: 10 },
    });
    expect(checkParams(parameters, { greeting: 'ok', count: 'x' }).problems).toEqual({ count: { kind: 'number' } });
  });
});
