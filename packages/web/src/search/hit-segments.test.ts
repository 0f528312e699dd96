import { describe, expect, it } from 'vitest';
import { hitSegments } from './hit-segments.ts';

describe('hitSegments', () => {
  it('splits a line into plain and highlighted text', () => {
    expect(hitSegments('disk full on /var', [{ start: 5, end: 9 }])).toEqual([
      { text: 'disk ', hit: false },
      { text: 'full', hit: true },
      { text: ' on /var', hit: false },
    ]);
  });

  it('drops colour escapes and keeps highlight offsets that count them', () => {
    const line = '\x1b[31mERROR\x1b[0m: disk';
    expect(hitSegments(line, [{ start: 5, end: 10 }])).toEqual([
      { text: 'ERROR', hit: true },
      { text: ': disk', hit: false },
    ]);
  });

  it('drops OSC title and link sequences and shows other control characters as dots', () => {
    const line = '\x1b]0;HACKED\x07a\x1b]8;;javascript:x\x1b\\b\x08c';
    expect(hitSegments(line, [])).toEqual([{ text: 'ab·c', hit: false }]);
  });

  it('keeps markup as text', () => {
    expect(hitSegments('<img src=x onerror=alert(1)>', [{ start: 1, end: 4 }])).toEqual([
      { text: '<', hit: false },
      { text: 'img', hit: true },
      { text: ' src=x onerror=alert(1)>', hit: false },
    ]);
  });
});
