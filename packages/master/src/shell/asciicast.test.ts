import { describe, expect, it } from 'vitest';
import { AsciicastRecorder } from './asciicast.ts';

describe('asciicast v2 recording', () => {
  it('writes the header, output with split characters kept whole, resizes, and a marker at the cap', () => {
    const rec = new AsciicastRecorder(
      { cols: 80, rows: 24, startedAtMs: 10_000, term: 'xterm', command: undefined },
      200,
    );
    const euro = Buffer.from('€');
    rec.output(10_500, euro.subarray(0, 1));
    rec.output(10_750, Buffer.concat([euro.subarray(1), Buffer.from('\r\n')]));
    rec.resize(11_000, 100, 30);
    rec.output(12_000, Buffer.from('x'.repeat(300)));
    rec.output(12_100, Buffer.from('after the cap'));
    const lines = rec
      .finish(13_000)
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual([
      { version: 2, width: 80, height: 24, timestamp: 10, env: { TERM: 'xterm' } },
      [0.75, 'o', '€\r\n'],
      [1, 'r', '100x30'],
      [2, 'm', 'recording cut: size cap'],
    ]);
  });
});
