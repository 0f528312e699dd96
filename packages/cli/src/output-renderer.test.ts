import { describe, expect, it } from 'vitest';
import { OutputRenderer, type OutputWrite } from './output-renderer.ts';
import { nodeColour } from './style.ts';

const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (writes: OutputWrite[]): string =>
  writes.map((w) => (typeof w.data === 'string' ? w.data : Buffer.from(w.data).toString('utf8'))).join('');

describe('OutputRenderer with prefixes', () => {
  it('prefixes whole lines with the node id, aligned, and holds a partial line', () => {
    const renderer = new OutputRenderer({ prefixed: true, colour: false, escape: { stdout: false, stderr: false } });
    renderer.addNode('node-long');
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('one\ntw')))).toBe('n1        | one\n');
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('o\n')))).toBe('n1        | two\n');
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('tail')))).toBe('');
    expect(text(renderer.endRun('n1', 'r1'))).toBe('n1        | tail\n');
  });

  it('escapes only where the destination is a terminal', () => {
    const renderer = new OutputRenderer({ prefixed: false, colour: false, escape: { stdout: false, stderr: true } });
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('\x1b')))).toBe('\x1b');
    expect(text(renderer.chunk('n1', 'r1', 'stderr', enc('\x1b')))).toBe('\\x1b');
  });

  it('sends stderr and system output to stderr', () => {
    const renderer = new OutputRenderer({ prefixed: true, colour: false, escape: { stdout: false, stderr: false } });
    const writes = [
      ...renderer.chunk('n1', 'r1', 'stderr', enc('bad\n')),
      ...renderer.chunk('n1', 'r1', 'system', enc('truncated\n')),
    ];
    expect(writes.map((w) => w.to)).toEqual(['stderr', 'stderr']);
  });

  it('keeps exact bytes without escaping, and escapes them when asked', () => {
    const raw = new OutputRenderer({ prefixed: true, colour: false, escape: { stdout: false, stderr: false } });
    const [write] = raw.chunk('n1', 'r1', 'stdout', Uint8Array.from([0x1b, 0x5b, 0x6d, 0xff, 0x0a]));
    expect(Buffer.from(write?.data ?? '').subarray(5)).toEqual(Buffer.from([0x1b, 0x5b, 0x6d, 0xff, 0x0a]));
    const escaped = new OutputRenderer({ prefixed: true, colour: false, escape: { stdout: true, stderr: true } });
    expect(text(escaped.chunk('n1', 'r1', 'stdout', enc('\x1b[2Jx\n')))).toBe('n1 | \\x1b[2Jx\n');
  });

  it('colours the prefix in the colour of the node', () => {
    const renderer = new OutputRenderer({ prefixed: true, colour: true, escape: { stdout: true, stderr: true } });
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('x\n')))).toBe(`\x1b[${nodeColour('n1')}mn1\x1b[0m | x\n`);
  });

  it('cuts a line that never ends into bounded pieces', () => {
    const renderer = new OutputRenderer({ prefixed: true, colour: false, escape: { stdout: false, stderr: false } });
    const writes = renderer.chunk('n1', 'r1', 'stdout', new Uint8Array(200 * 1024).fill(0x61));
    expect(writes).toHaveLength(3);
    expect(text(renderer.endRun('n1', 'r1'))).toHaveLength('n1 | '.length + 8 * 1024 + 1);
  });
});

describe('OutputRenderer without prefixes', () => {
  it('passes bytes through untouched', () => {
    const renderer = new OutputRenderer({ prefixed: false, colour: false, escape: { stdout: false, stderr: false } });
    const bytes = Uint8Array.from([0x1b, 0x00, 0xfe]);
    expect(renderer.chunk('n1', 'r1', 'stdout', bytes)).toEqual([{ to: 'stdout', data: bytes }]);
    expect(renderer.endRun('n1', 'r1')).toEqual([]);
  });

  it('streams partial lines at once when escaping', () => {
    const renderer = new OutputRenderer({ prefixed: false, colour: false, escape: { stdout: true, stderr: true } });
    expect(text(renderer.chunk('n1', 'r1', 'stdout', enc('Password: \x07')))).toBe('Password: \\x07');
  });
});

describe('nodeColour', () => {
  it('is the same for the same node and spreads over the palette', () => {
    expect(nodeColour('edge-01')).toBe(nodeColour('edge-01'));
    const colours = new Set(Array.from({ length: 40 }, (_, i) => nodeColour(`edge-${i}`)));
    expect(colours.size).toBeGreaterThan(6);
  });
});
