import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExitCode } from './exit-codes.ts';

/** Scripts read these numbers from docs/CLI.md: the table there and the code must be the same. */
function documentedTable(): Record<string, number> {
  const text = readFileSync(new URL('../../../docs/CLI.md', import.meta.url), 'utf8');
  const section = text.slice(text.indexOf('\n## Exit status\n'));
  const rows = section.slice(0, section.indexOf('\n## ', 1)).matchAll(/^\| (\d+) +\| (\w+) +\|/gm);
  return Object.fromEntries([...rows].map(([, code, name]): [string, number] => [String(name), Number(code)]));
}

describe('exit codes', () => {
  it('are the table in docs/CLI.md, name for name and number for number', () => {
    expect(documentedTable()).toEqual({ ...ExitCode });
  });

  it('give every number one meaning', () => {
    const numbers = Object.values(ExitCode);
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
