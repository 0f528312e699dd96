/**
 * Makes script output safe to show on an operator's terminal: a node's output must not move
 * the cursor, retitle the window, rewrite the clipboard (OSC 52) or hide text. ESC, C1 and
 * every other C0 control except newline and tab are shown as `\xNN`; so are Unicode bidi
 * overrides, which can make a line read differently from what it contains ("Trojan Source").
 * A carriage return right before a newline is kept: PTY output ends every line with CR LF.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(char: string): string {
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

export function escapeControl(text: string): string {
  return text.replace(UNSAFE, (char, offset: number) =>
    char === '\r' && text.charAt(offset + 1) === '\n' ? char : escapeChar(char),
  );
}

/**
 * Decodes a stream of UTF-8 chunks and escapes it, holding back a trailing CR until the next
 * chunk shows whether a newline follows, and a split multi-byte character until it is whole.
 */
export class EscapingDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private pendingCr = false;

  write(bytes: Uint8Array): string {
    return this.take(this.decoder.decode(bytes, { stream: true }));
  }

  end(): string {
    const text = this.take(this.decoder.decode());
    if (!this.pendingCr) return text;
    this.pendingCr = false;
    return `${text}\\x0d`;
  }

  private take(decoded: string): string {
    let text = this.pendingCr ? `\r${decoded}` : decoded;
    this.pendingCr = text.endsWith('\r');
    if (this.pendingCr) text = text.slice(0, -1);
    return escapeControl(text);
  }
}
