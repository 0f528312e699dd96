import { describe, expect, it } from 'vitest';
import { MasterError } from '../errors.ts';
import { HIT_MAX_CHARS, highlights, hitExcerpt, parseTerms } from './log-search.ts';

describe('search terms', () => {
  it('splits words, keeps quoted phrases, refuses words under 3 characters', () => {
    expect(parseTerms('disk  "no space left"  sda1')).toEqual(['disk', 'no space left', 'sda1']);
    expect(() => parseTerms('ok fine')).toThrow(MasterError);
    expect(() => parseTerms('""')).toThrow(MasterError);
  });

  it('refuses words without 3 searchable characters, naming the query parameter q', () => {
    for (const q of ['\0\0\0', '\x01\x02\x03\x7f disk', '"\0 \0"', 'disk\0full']) {
      const error: unknown = (() => {
        try {
          parseTerms(q);
        } catch (err) {
          return err;
        }
        return null;
      })();
      if (!(error instanceof MasterError)) throw new Error(`${JSON.stringify(q)} was not refused`);
      expect([error.code, error.field]).toEqual(['invalid_request', 'q']);
      expect(error.message).toMatch(/^query parameter q: /);
    }
    expect(parseTerms('\x1b[31mERROR')).toEqual(['\x1b[31mERROR']);
  });

  it('shows a long line around its first match, the highlights moved with it', () => {
    const line = `${'a'.repeat(4000)} needle ${'b'.repeat(3000)}`;
    const excerpt = hitExcerpt(line, highlights(line, ['needle']));
    expect(excerpt.line).toHaveLength(HIT_MAX_CHARS);
    expect(excerpt.start).toBe(4001 - 200);
    expect(excerpt.highlights.map((h) => excerpt.line.slice(h.start, h.end))).toEqual(['needle']);
    expect(line.slice(excerpt.start, excerpt.start + excerpt.line.length)).toBe(excerpt.line);
    // Near the end the window ends with the line; a short line is left whole.
    const tail = `${'a'.repeat(4000)} needle`;
    expect(hitExcerpt(tail, highlights(tail, ['needle'])).start).toBe(tail.length - HIT_MAX_CHARS);
    expect(hitExcerpt('a needle', highlights('a needle', ['needle']))).toEqual({
      line: 'a needle',
      start: 0,
      highlights: [{ start: 2, end: 8 }],
    });
    // A cut never splits a surrogate pair.
    const emoji = `${'😀'.repeat(3000)} needle`;
    const cut = hitExcerpt(emoji, highlights(emoji, ['needle']));
    // A lone surrogate would come back from UTF-8 as U+FFFD.
    expect(Buffer.from(cut.line).toString()).toBe(cut.line);
    expect(cut.highlights.map((h) => cut.line.slice(h.start, h.end))).toEqual(['needle']);
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
