import { describe, expect, it } from 'vitest';
import { parseRolloutFlags } from './rollout-flags.ts';

describe('parseRolloutFlags', () => {
  it('makes no rollout without --waves', () => {
    expect(parseRolloutFlags({})).toBeUndefined();
  });

  it('reads the waves and the gate', () => {
    expect(parseRolloutFlags({ waves: '1,10%,100%', maxFailureRate: '5%', wavePause: '2m' })).toEqual({
      waves: [{ count: 1 }, { percent: 10 }, { percent: 100 }],
      maxFailureRate: 5,
      wavePauseMs: 120_000,
    });
    expect(parseRolloutFlags({ waves: '3,100%', maxFailureRate: '12.5', approve: true })).toEqual({
      waves: [{ count: 3 }, { percent: 100 }],
      maxFailureRate: 12.5,
      approve: true,
    });
  });

  it('names the flag at fault', () => {
    expect(() => parseRolloutFlags({ maxFailureRate: '5%', wavePause: '1m' })).toThrow(
      '--max-failure-rate, --wave-pause go with --waves',
    );
    expect(() => parseRolloutFlags({ waves: '1,100%', maxFailureRate: '-1' })).toThrow(
      "--max-failure-rate: '-1' is not a percentage from 0% to 100%",
    );
    expect(() => parseRolloutFlags({ waves: '1,100%', wavePause: 'soon' })).toThrow(
      "--wave-pause: 'soon' is not a duration",
    );
    expect(() => parseRolloutFlags({ waves: '50%,100%,100%' })).toThrow(
      '--waves: wave 3 (100%) must be larger than wave 2',
    );
  });
});
