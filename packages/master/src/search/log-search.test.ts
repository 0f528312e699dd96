import { describe, expect, it } from 'vitest';
import { MasterError } from '../errors.ts';
import { highlights, parseTerms } from './log-search.ts';

describe('search terms', () => {
  it('splits words, keeps quoted phrases, refuses words under 3 characters', () => {
    expect(parseTerms('disk  "no space left"  sda1')).toEqual(['disk', 'no space left', 'sda1']);
    expect(() => parseTerms('ok fine')).toThrow(MasterError);
    expect(() => parseTerms('""')).toThrow(MasterError);
  });

  it('highlights every occurrence, case-insensitive, merged where they overlap', () => {
    expect(highlights('Error: error in ERRORS', ['error'])).toEqual([
      { start: 0, end: 5 },
      { start: 7, end: 12 },
      { start: 16, end: 21 },
    ]);
    expect(highlights('abcdef', ['abcd', 'cdef'])).toEqual([{ start: 0, end: 6 }]);
    expect(highlights('a.b*c (x)', ['.b*', '(x)'])).toEqual([
      { start: 1, end: 4 },
      { start: 6, end: 9 },
    ]);
  });
});
