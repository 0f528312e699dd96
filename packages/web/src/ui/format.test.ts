import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, relativeTime } from './format.ts';

describe('format', () => {
  it('says how long ago, coarser with age', () => {
    const now = 1_000_000_000;
    expect(relativeTime(null, now)).toBe('never');
    expect(relativeTime(now - 2_000, now)).toBe('just now');
    expect(relativeTime(now - 42_000, now)).toBe('42s ago');
    expect(relativeTime(now - 3 * 60_000, now)).toBe('3 min ago');
    expect(relativeTime(now - 5 * 3_600_000, now)).toBe('5 h ago');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 d ago');
  });

  it('formats bytes and durations with their units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(8 * 1024 ** 3)).toBe('8.0 GiB');
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(4_200)).toBe('4.2 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
  });
});
