import type { OutputStream } from '@edgestelle/protocol';
import { EscapingDecoder, escapeControl } from './escape-control.ts';
import { nodeColour, paint } from './style.ts';

/** One write to the CLI's stdout or stderr; bytes are written as they are, text as UTF-8. */
export interface OutputWrite {
  to: 'stdout' | 'stderr';
  data: string | Uint8Array;
}

export interface RendererOptions {
  /** Prefix every line with its node id (more than one node), or pass output through plainly. */
  prefixed: boolean;
  colour: boolean;
  /** Escape control characters per destination (a terminal without --raw); otherwise the exact bytes. */
  escape: Readonly<Record<OutputWrite['to'], boolean>>;
}

/** A partial line longer than this is written out as a line of its own, so memory stays bounded. */
const MAX_PENDING_LINE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

interface StreamState {
  pending: Buffer;
  decoder: EscapingDecoder;
}

/**
 * Turns output chunks of many runs into writes: stdout stays stdout, stderr and the agent's
 * system messages go to stderr. With prefixes, output is cut into whole lines so lines of
 * different nodes never mix; a run's unfinished last line is closed when the run ends.
 */
export class OutputRenderer {
  private readonly streams = new Map<string, StreamState>();
  private prefixWidth = 0;

  constructor(private readonly options: RendererOptions) {}

  /** Aligns prefixes to the longest node id seen so far. */
  addNode(nodeId: string): void {
    this.prefixWidth = Math.max(this.prefixWidth, nodeId.length);
  }

  chunk(nodeId: string, runId: string, stream: OutputStream, bytes: Uint8Array): OutputWrite[] {
    this.addNode(nodeId);
    const to = stream === 'stdout' ? 'stdout' : 'stderr';
    const state = this.state(runId, stream);
    if (!this.options.prefixed) {
      const data = this.options.escape[to] ? state.decoder.write(bytes) : bytes;
      return data.length === 0 ? [] : [{ to, data }];
    }
    let pending = Buffer.concat([state.pending, bytes]);
    const writes: OutputWrite[] = [];
    for (;;) {
      const newline = pending.indexOf(NEWLINE);
      const cut = newline >= 0 ? newline + 1 : pending.length > MAX_PENDING_LINE_BYTES ? MAX_PENDING_LINE_BYTES : -1;
      if (cut < 0) break;
      writes.push({ to, data: this.line(nodeId, to, pending.subarray(0, cut)) });
      pending = pending.subarray(cut);
    }
    state.pending = Buffer.from(pending);
    return writes;
  }

  /** Flushes what is left of a run: a last line without a newline gets one. */
  endRun(nodeId: string, runId: string): OutputWrite[] {
    const writes: OutputWrite[] = [];
    for (const stream of ['stdout', 'stderr', 'system'] as const) {
      const key = `${runId}/${stream}`;
      const state = this.streams.get(key);
      if (state === undefined) continue;
      this.streams.delete(key);
      const to = stream === 'stdout' ? 'stdout' : 'stderr';
      if (this.options.prefixed) {
        if (state.pending.length > 0) writes.push({ to, data: this.line(nodeId, to, state.pending) });
      } else if (this.options.escape[to]) {
        const rest = state.decoder.end();
        if (rest.length > 0) writes.push({ to, data: rest });
      }
    }
    return writes;
  }

  private state(runId: string, stream: OutputStream): StreamState {
    const key = `${runId}/${stream}`;
    let state = this.streams.get(key);
    if (state === undefined) {
      state = { pending: Buffer.alloc(0), decoder: new EscapingDecoder() };
      this.streams.set(key, state);
    }
    return state;
  }

  private line(nodeId: string, to: OutputWrite['to'], bytes: Uint8Array): string | Uint8Array {
    const name = nodeId.padEnd(this.prefixWidth);
    const prefix = `${this.options.colour ? paint(name, nodeColour(nodeId)) : name} | `;
    const ends = bytes.length > 0 && bytes[bytes.length - 1] === NEWLINE;
    if (this.options.escape[to]) {
      const text = escapeControl(Buffer.from(bytes).toString('utf8'));
      return `${prefix}${text}${ends ? '' : '\n'}`;
    }
    return Buffer.concat([Buffer.from(prefix), bytes, ends ? Buffer.alloc(0) : Buffer.from('\n')]);
  }
}
