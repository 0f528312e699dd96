import type { SearchHit } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { formatHit, searchQuery } from './search.ts';

const hit: SearchHit = {
  runId: '01jd3v7k2m9q8r5t4w6x8y0z2a',
  jobId: '01jd3v7k2m9q8r5t4w6x8y0z2b',
  nodeId: 'edge-1',
  seq: 4,
  stream: 'stdout',
  lineNo: 9,
  line: 'disk \x1b]52;c;x\x07full on /var',
  lineStart: 0,
  lineLength: 22,
  highlights: [
    { start: 0, end: 4 },
    { start: 14, end: 18 },
  ],
  at: 0,
  runState: 'failed',
  createdBy: 'admin',
  script: null,
};

describe('formatHit', () => {
  it('prints node, run, seq and the line, escaped for a terminal', () => {
    expect(formatHit(hit, { escape: true, colour: false, nodeWidth: 8 })).toBe(
      'edge-1    01jd3v7k2m9q8r5t4w6x8y0z2a  seq 4  disk \\x1b]52;c;x\\x07full on /var',
    );
    expect(formatHit(hit, { escape: false, colour: false, nodeWidth: 0 })).toContain('disk \x1b]52;c;x\x07full');
  });

  it('makes the matched words bold with colour on, after escaping the rest', () => {
    expect(formatHit(hit, { escape: true, colour: true, nodeWidth: 0 })).toContain(
      'seq 4  \x1b[1mdisk\x1b[0m \\x1b]52;c;x\\x07\x1b[1mfull\x1b[0m on /var',
    );
  });

  it('marks where the master cut a long line', () => {
    const cut = { ...hit, line: 'disk full', highlights: [], lineStart: 10, lineLength: 30 };
    expect(formatHit(cut, { escape: true, colour: false, nodeWidth: 0 })).toContain('seq 4  …disk full…');
    expect(
      formatHit({ ...cut, lineStart: 21 }, { escape: true, colour: false, nodeWidth: 0 }).endsWith(' …disk full'),
    ).toBe(true);
  });
});

describe('searchQuery', () => {
  it('joins the words and turns flags into the API query', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(searchQuery(['"disk full"', 'var'], { limit: '10', state: ['failed,timed_out'], since: '1h' }, now)).toEqual(
      expect.objectContaining({ q: '"disk full" var', state: 'failed,timed_out', from: now - 3_600_000, limit: 10 }),
    );
  });

  it('takes one argument with spaces as a phrase', () => {
    expect(searchQuery(['out of memory', 'oom'], { limit: '50' }, 0)).toMatchObject({ q: '"out of memory" oom' });
  });

  it('refuses words under 3 characters and unknown states', () => {
    expect(() => searchQuery(['ab', 'disk'], { limit: '50' }, 0)).toThrow(/"ab" has only 2 searchable characters/);
    // NUL and other control characters are no search words: the master's own message, before a request.
    expect(() => searchQuery(['\0\0\0'], { limit: '50' }, 0)).toThrow(
      '"\\u0000\\u0000\\u0000" has no searchable character; each word needs 3 or more characters that are not spaces or control characters',
    );
    expect(() => searchQuery(['disk'], { limit: '50', state: ['broken'] }, 0)).toThrow(/not a run state/);
  });
});
