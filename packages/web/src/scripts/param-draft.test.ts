import { scriptParameterSchema, type ScriptParameterInput } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { fromDraft, toDraft } from './param-draft.ts';

describe('parameter drafts', () => {
  it.each<ScriptParameterInput>([
    { name: 'who', type: 'string', description: 'name', required: true, pattern: '[a-z]+', default: 'bob' },
    { name: 'count', type: 'number', integer: true, min: 1, max: 9, default: 2 },
    { name: 'loud', type: 'boolean', default: true },
    { name: 'colour', type: 'choice', choices: ['red', 'green'], default: 'red' },
  ])('round-trips a $type parameter', (input) => {
    const parameter = scriptParameterSchema.parse(input);
    expect(scriptParameterSchema.parse(fromDraft(toDraft(parameter)))).toEqual(parameter);
  });
});
