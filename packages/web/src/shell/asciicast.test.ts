import { describe, expect, it } from 'vitest';
import { parseAsciicast, parseSize } from './asciicast.ts';

describe('asciicast v2 in the console', () => {
  it('reads the header, output and resizes, and skips markers', () => {
    const text = [
      JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1, env: { TERM: 'xterm' } }),
      JSON.stringify([0.25, 'o', '$ ']),
      JSON.stringify([1, 'r', '100x30']),
      JSON.stringify([2, 'm', 'recording cut: size cap']),
      '',
    ].join('\n');
    expect(parseAsciicast(text)).toEqual({
      cols: 80,
      rows: 24,
      events: [
        { at: 0.25, type: 'o', data: '$ ' },
        { at: 1, type: 'r', data: '100x30' },
      ],
    });
    expect(parseSize('100x30')).toEqual({ cols: 100, rows: 30 });
    expect(parseSize('wide')).toBeNull();
    expect(() => parseAsciicast('{"version":1}')).toThrow();
  });
});
