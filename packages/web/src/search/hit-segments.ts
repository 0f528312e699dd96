import type { SearchHit } from '@edgestelle/protocol';

export interface HitSegment {
  text: string;
  hit: boolean;
}

// CSI (colours, cursor moves), OSC (titles, links: up to BEL or ST) and lone two-byte escapes.
// eslint-disable-next-line no-control-regex -- escape sequences are exactly what this strips
const ESCAPE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/y;
// eslint-disable-next-line no-control-regex -- other control characters would render as nothing or garble the row
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * A search hit's line as plain-text segments for the result list: terminal escapes dropped,
 * other control characters shown as `·`, and the master's highlight offsets (which count the
 * escapes) mapped onto what is left. The segments are rendered as text, never as markup.
 */
export function hitSegments(line: SearchHit['line'], highlights: SearchHit['highlights']): HitSegment[] {
  const inHit = new Uint8Array(line.length);
  for (const { start, end } of highlights) inHit.fill(1, Math.max(0, start), Math.min(line.length, end));
  const segments: HitSegment[] = [];
  const push = (text: string, hit: boolean): void => {
    const last = segments[segments.length - 1];
    if (last !== undefined && last.hit === hit) last.text += text;
    else segments.push({ text, hit });
  };
  let i = 0;
  while (i < line.length) {
    ESCAPE.lastIndex = i;
    const escape = ESCAPE.exec(line);
    if (escape !== null) {
      i += escape[0].length;
      continue;
    }
    const char = line.charAt(i);
    push(CONTROL.test(char) ? '·' : char, inHit[i] === 1);
    i += 1;
  }
  return segments;
}
