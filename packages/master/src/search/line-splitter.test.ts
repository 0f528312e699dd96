import { describe, expect, it } from 'vitest';
import { LineSplitter, parseCarry, serializeCarry } from './line-splitter.ts';

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
});
