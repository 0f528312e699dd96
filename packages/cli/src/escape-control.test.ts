import { describe, expect, it } from 'vitest';
import { EscapingDecoder, escapeControl } from './escape-control.ts';

describe('escapeControl', () => {
  it('shows ESC, C1 and C0 controls as hex escapes', () => {
    expect(escapeControl('\x1b[31mred\x1b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(escapeControl('a\x07b\x00c\x7f')).toBe('a\\x07b\\x00c\\x7f');
    expect(escapeControl('\u009b2J')).toBe('\\x9b2J');
  });

  it('keeps newline, tab, CR LF and ordinary Unicode', () => {
    expect(escapeControl('a\tb\r\nc\nüñ€ 日本')).toBe('a\tb\r\nc\nüñ€ 日本');
  });

  it('escapes a lone CR and bidi overrides', () => {
    expect(escapeControl('50%\r100%')).toBe('50%\\x0d100%');
    expect(escapeControl('x\u202ey')).toBe('x\\u202ey');
  });

  it('blocks an OSC 52 clipboard write', () => {
    expect(escapeControl('\x1b]52;c;ZXZpbA==\x07')).toBe('\\x1b]52;c;ZXZpbA==\\x07');
  });
});

describe('EscapingDecoder', () => {
  it('joins a multi-byte character split across chunks', () => {
    const bytes = new TextEncoder().encode('€uro');
    const decoder = new EscapingDecoder();
    expect(decoder.write(bytes.subarray(0, 1)) + decoder.write(bytes.subarray(1)) + decoder.end()).toBe('€uro');
  });

  it('keeps a CR LF split across chunks and escapes a CR at the end', () => {
    const decoder = new EscapingDecoder();
    const enc = new TextEncoder();
    expect(decoder.write(enc.encode('line\r'))).toBe('line');
    expect(decoder.write(enc.encode('\nnext\r'))).toBe('\r\nnext');
    expect(decoder.end()).toBe('\\x0d');
  });
});
