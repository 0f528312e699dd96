import { describe, expect, it } from 'vitest';
import { decodeBase64, terminalBytes } from './chunk-bytes.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('terminalBytes', () => {
  it('passes stdout through byte for byte, escape sequences and UTF-8 included', () => {
    const raw = '\x1b[32mgrün\x1b[0m ✓\n';
    expect(text(terminalBytes({ stream: 'stdout', data: b64(raw) }))).toBe(raw);
  });

  it('wraps stderr and system notes in their own colour and resets after', () => {
    expect(text(terminalBytes({ stream: 'stderr', data: b64('boom\n') }))).toBe('\x1b[91mboom\n\x1b[0m');
    expect(text(terminalBytes({ stream: 'system', data: b64('cut\n') }))).toBe('\x1b[2;3;33mcut\n\x1b[0m');
  });

  it('decodes binary data that is not valid UTF-8', () => {
    expect([...decodeBase64(Buffer.from([0, 255, 128, 10]).toString('base64'))]).toEqual([0, 255, 128, 10]);
  });
});
