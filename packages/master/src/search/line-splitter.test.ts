import { describe, expect, it } from 'vitest';
import { LineSplitter, MAX_LINE_BYTES, parseCarry, serializeCarry } from './line-splitter.ts';

const chunk = (seq: number, text: string | Buffer, stream = 'stdout') => ({
  seq,
  stream,
  data: typeof text === 'string' ? Buffer.from(text) : text,
  createdAt: 1000 + seq,
});

describe('LineSplitter', () => {
  it('joins a line printed across two chunks and points at the chunk it starts in', () => {
    const splitter = new LineSplitter({}, 0);
    splitter.push(chunk(0, 'first\nsec'));
    splitter.push(chunk(1, 'ond line\r\nthird'));
    expect(splitter.lines.map((l) => [l.seq, l.lineNo, l.line])).toEqual([
      [0, 1, 'first'],
      [0, 2, 'second line'],
    ]);
    splitter.finish();
    expect(splitter.lines.at(-1)).toMatchObject({ seq: 1, lineNo: 3, line: 'third' });
  });

  it('keeps streams apart and decodes a character split between chunks', () => {
    const euro = Buffer.from('€ ok\n');
    const splitter = new LineSplitter({}, 0);
    splitter.push(chunk(0, Buffer.concat([Buffer.from('price '), euro.subarray(0, 1)])));
    splitter.push(chunk(1, 'oops\n', 'stderr'));
    splitter.push(chunk(2, euro.subarray(1)));
    expect(splitter.lines.map((l) => [l.stream, l.line])).toEqual([
      ['stderr', 'oops'],
      ['stdout', 'price € ok'],
    ]);
  });

  it('carries an open line through its serialized state, and numbers but skips empty lines', () => {
    const first = new LineSplitter({}, 0);
    first.push(chunk(0, 'a\n\nhalf'));
    const saved = first.state();
    const second = new LineSplitter(parseCarry(serializeCarry(saved.carry)), saved.lineNo);
    second.push(chunk(1, ' done\n'));
    expect(first.lines.map((l) => l.lineNo)).toEqual([1]);
    expect(second.lines).toEqual([{ seq: 0, stream: 'stdout', lineNo: 3, line: 'half done', createdAt: 1000 }]);
    expect(serializeCarry(second.state().carry)).toBeNull();
  });

  it('keeps a line whole up to a chunk: a word after 4,000 characters is in it', () => {
    const long = `${'a'.repeat(4000)} tail-word ${'€'.repeat(20_000)}`;
    const splitter = new LineSplitter({}, 0);
    splitter.push(chunk(0, `${long}\r\nnext\n`));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(splitter.lines.map((l) => l.line)).toEqual([long, 'next']);
  });

  it('cuts a line longer than a chunk into pieces between characters, each from the chunk it starts in or before', () => {
    // 30,000 three-byte characters (90,000 bytes) in two chunks cut mid-character, then a word.
    const bytes = Buffer.from(`${'€'.repeat(30_000)} tail-word\n`);
    const splitter = new LineSplitter({}, 0);
    splitter.push(chunk(0, bytes.subarray(0, 50_001)));
    expect(splitter.lines).toEqual([]);
    splitter.push(chunk(1, bytes.subarray(50_001)));
    const pieces = splitter.lines;
    expect(pieces.map((l) => [l.seq, l.lineNo])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(pieces.map((l) => l.line).join('')).toBe(`${'€'.repeat(30_000)} tail-word`);
    expect(pieces.every((l) => !l.line.includes('\uFFFD') && Buffer.byteLength(l.line) <= MAX_LINE_BYTES)).toBe(true);
    expect(serializeCarry(splitter.state().carry)).toBeNull();
  });
});
