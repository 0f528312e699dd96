import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('grows the ceiling exponentially up to the cap and draws below it', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 });
    const delays = Array.from({ length: 6 }, () => backoff.nextDelayMs());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('uses the full jitter range down to zero and starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect(backoff.nextDelayMs()).toBe(0);
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.5 });
    high.nextDelayMs();
    high.nextDelayMs();
    high.reset();
    expect(high.nextDelayMs()).toBe(50);
  });
});
