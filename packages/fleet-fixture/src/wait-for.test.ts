import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('returns what the check found once it finds something', async () => {
    let calls = 0;
    const found = await waitFor('the third call', () => (++calls === 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(found).toEqual({ calls: 3 });
  });

  it('names what it waited for, described when it gives up', async () => {
    let last = 0;
    await expect(
      waitFor(
        () => `a check that never passes (last ${last})`,
        () => {
          last += 1;
          return false;
        },
        { timeoutMs: 50, intervalMs: 5 },
      ),
    ).rejects.toThrow(/timed out after 50 ms waiting for a check that never passes \(last \d+\)/);
  });
});
