import { describe, expect, it, vi } from 'vitest';
import { Chunker } from './chunker.ts';

describe('Chunker', () => {
  it('cuts by size, keeps bytes intact and flushes the rest after the delay', () => {
    vi.useFakeTimers();
    try {
      const chunks: string[] = [];
      const chunker = new Chunker({
        maxBytes: 4,
        flushDelayMs: 25,
        emit: (s, d) => chunks.push(`${s}:${d.toString()}`),
      });
      chunker.push('stdout', Buffer.from('abcdefghij'));
      expect(chunks).toEqual(['stdout:abcd', 'stdout:efgh']);
      vi.advanceTimersByTime(24);
      expect(chunks).toHaveLength(2);
      vi.advanceTimersByTime(1);
      expect(chunks).toEqual(['stdout:abcd', 'stdout:efgh', 'stdout:ij']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('cuts when the other stream speaks, so order between stdout and stderr is kept', () => {
    const chunks: string[] = [];
    const chunker = new Chunker({
      maxBytes: 100,
      flushDelayMs: 1000,
      emit: (s, d) => chunks.push(`${s}:${d.toString()}`),
    });
    chunker.push('stdout', Buffer.from('1'));
    chunker.push('stdout', Buffer.from('2'));
    chunker.push('stderr', Buffer.from('e'));
    chunker.push('stdout', Buffer.from('3'));
    chunker.flush();
    expect(chunks).toEqual(['stdout:12', 'stderr:e', 'stdout:3']);
  });
});
