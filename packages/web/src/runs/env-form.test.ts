import { describe, expect, it } from 'vitest';
import { checkEnvRows } from './env-form.ts';

describe("the Run form's variables", () => {
  it('splits plain and secret values, leaving out empty rows', () => {
    expect(
      checkEnvRows(
        [
          { name: 'MODE', value: 'fast', secret: false },
          { name: ' DB_PASSWORD ', value: 'pw', secret: true },
          { name: '', value: '', secret: true },
        ],
        false,
      ),
    ).toEqual({ env: { MODE: 'fast' }, secretEnv: { DB_PASSWORD: 'pw' }, problem: null });
  });

  it('names the variable that is wrong: bad name, given twice, plain with a library script, too many', () => {
    expect(checkEnvRows([{ name: '1X', value: 'v', secret: false }], false).problem).toEqual({
      kind: 'name',
      name: '1X',
    });
    expect(
      checkEnvRows(
        [
          { name: 'A', value: '1', secret: false },
          { name: 'A', value: '2', secret: true },
        ],
        false,
      ).problem,
    ).toEqual({ kind: 'duplicate', name: 'A' });
    expect(checkEnvRows([{ name: 'A', value: '1', secret: false }], true).problem).toEqual({
      kind: 'plainWithLibrary',
      name: 'A',
    });
    expect(checkEnvRows([{ name: 'A', value: '1', secret: true }], true).problem).toBeNull();
    const many = Array.from({ length: 129 }, (_, i) => ({ name: `V${i}`, value: '', secret: i % 2 === 0 }));
    expect(checkEnvRows(many, false).problem).toEqual({ kind: 'tooMany', limit: 128 });
  });
});
