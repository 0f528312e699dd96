import type { ChunkDto } from '@edgestelle/protocol';

const encoder = new TextEncoder();
// stderr in bright red, the master's own notes (e.g. "output cut") dim yellow italic, each
// closed with a reset so the colour cannot leak into the next chunk.
const STDERR_ON = encoder.encode('\x1b[91m');
const SYSTEM_ON = encoder.encode('\x1b[2;3;33m');
const RESET = encoder.encode('\x1b[0m');

export function decodeBase64(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The bytes to hand xterm for one chunk: the script's own bytes untouched (its colours
 * intact), stderr and system notes wrapped so they stand apart from stdout.
 */
export function terminalBytes(chunk: Pick<ChunkDto, 'stream' | 'data'>): Uint8Array {
  const bytes = decodeBase64(chunk.data);
  switch (chunk.stream) {
    case 'stdout':
      return bytes;
    case 'stderr':
      return concat(STDERR_ON, bytes, RESET);
    case 'system':
      return concat(SYSTEM_ON, bytes, RESET);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
