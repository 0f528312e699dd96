import { describe, expect, it } from 'vitest';
import { parseSearchWords } from './search-words.ts';

describe('parseSearchWords', () => {
  it('splits words on spaces and keeps quoted phrases', () => {
    expect(parseSearchWords('disk  "no space left"  sda1')).toEqual({
      ok: true,
      words: ['disk', 'no space left', 'sda1'],
    });
  });

  it('counts neither spaces nor control characters as searchable, and refuses NUL', () => {
    expect(parseSearchWords('\0\0\0')).toEqual({
      ok: false,
      problem:
        '"\\u0000\\u0000\\u0000" has no searchable character; each word needs 3 or more characters that are not spaces or control characters',
    });
    expect(parseSearchWords('"a \x01\x7f\u0085b"')).toMatchObject({
      ok: false,
      problem: /only 2 searchable characters/,
    });
    expect(parseSearchWords('disk\0full')).toMatchObject({ ok: false, problem: /NUL character/ });
    expect(parseSearchWords('  ""  ')).toEqual({ ok: false, problem: 'there is no word to search for' });
    // A control character inside a word with enough else is searched for as it is.
    expect(parseSearchWords('\x1b[31mERR')).toEqual({ ok: true, words: ['\x1b[31mERR'] });
    // Characters, not UTF-16 units: three emoji are three.
    expect(parseSearchWords('😀😀😀')).toEqual({ ok: true, words: ['😀😀😀'] });
  });
});
