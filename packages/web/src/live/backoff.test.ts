import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.ts';

describe('backoffDelayMs', () => {
  const options = { baseMs: 100, maxMs: 1000 };

  it('doubles per attempt within the upper half of the window', () => {
    expect(backoffDelayMs(0, options, () => 0)).toBe(50);
    expect(backoffDelayMs(0, options, () => 1)).toBe(100);
    expect(backoffDelayMs(2, options, () => 0)).toBe(200);
    expect(backoffDelayMs(2, options, () => 1)).toBe(400);
  });

  it('never passes the cap, however many attempts failed', () => {
    for (const attempt of [4, 10, 100, 10_000]) {
      expect(backoffDelayMs(attempt, options, () => 1)).toBe(1000);
      expect(backoffDelayMs(attempt, options, () => 0)).toBe(500);
    }
  });
});
