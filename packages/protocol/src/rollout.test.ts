import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWaveList, rolloutCreateSchema, waveEnds, type WaveSize } from './rollout.ts';

describe('wave sizes', () => {
  it('are cumulative counts and percentages of the targets, rounded up', () => {
    expect(waveEnds([{ count: 1 }, { percent: 10 }, { percent: 100 }], 200)).toEqual([1, 20, 200]);
    expect(waveEnds([{ count: 1 }, { percent: 50 }, { percent: 100 }], 10)).toEqual([1, 5, 10]);
    expect(waveEnds([{ percent: 7 }, { percent: 100 }], 100)).toEqual([7, 100]);
    expect(waveEnds([{ percent: 12.5 }, { percent: 100 }], 9)).toEqual([2, 9]);
  });

  it('take at least one node more than the wave before, and stop once every node has one', () => {
    // 10% of 10 is 1, which wave 1 already covers: wave 2 takes one more.
    expect(waveEnds([{ count: 1 }, { percent: 10 }, { percent: 100 }], 10)).toEqual([1, 2, 10]);
    expect(waveEnds([{ count: 1 }, { count: 2 }, { count: 3 }, { percent: 100 }], 2)).toEqual([1, 2]);
    expect(waveEnds([{ count: 5 }, { percent: 100 }], 3)).toEqual([3]);
    // A count after a percentage that it does not exceed is clamped, not refused.
    expect(waveEnds([{ percent: 50 }, { count: 3 }, { percent: 100 }], 20)).toEqual([10, 11, 20]);
  });

  it('leave nodes out when the last wave is a count below the node count (the master refuses that plan)', () => {
    expect(waveEnds([{ count: 1 }, { count: 5 }], 10)).toEqual([1, 5]);
  });

  it('never make an empty wave, never exceed the targets, and end at 100% with every node', () => {
    const size: fc.Arbitrary<WaveSize> = fc.oneof(
      fc.record({ count: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ percent: fc.double({ min: 0.01, max: 100, noNaN: true }) }),
    );
    fc.assert(
      fc.property(fc.array(size, { maxLength: 8 }), fc.integer({ min: 1, max: 300 }), (sizes, nodeCount) => {
        const ends = waveEnds([...sizes, { percent: 100 }], nodeCount);
        expect(ends.at(-1)).toBe(nodeCount);
        expect(ends.length).toBeLessThanOrEqual(sizes.length + 1);
        ends.forEach((end, i) => expect(end).toBeGreaterThan(ends[i - 1] ?? 0));
      }),
    );
  });
});

describe('parseWaveList', () => {
  it('reads counts and percentages', () => {
    expect(parseWaveList('1,10%,100%')).toEqual([{ count: 1 }, { percent: 10 }, { percent: 100 }]);
    expect(parseWaveList(' 2 , 12.5% ,100% ')).toEqual([{ count: 2 }, { percent: 12.5 }, { percent: 100 }]);
    expect(parseWaveList('100%')).toEqual([{ percent: 100 }]);
    expect(parseWaveList('5,20')).toEqual([{ count: 5 }, { count: 20 }]);
  });

  it('says what is wrong with a list that is not a rollout', () => {
    expect(parseWaveList('1,10%')).toBe('the last wave must cover every target: end with 100% (not 10%)');
    expect(parseWaveList('10%,5%,100%')).toBe('wave 2 (5%) must be larger than wave 1 (10%): sizes are cumulative');
    expect(parseWaveList('3,3,100%')).toContain('wave 2 (3) must be larger than wave 1 (3)');
    for (const bad of ['', '0', '0%', '150%', 'ten', '1,,100%', '-1,100%', '1.5,100%', '10 %']) {
      expect(parseWaveList(bad), bad).toMatch(/is not a wave size/);
    }
    expect(parseWaveList(Array(101).fill('100%').join(','))).toBe('at most 100 waves');
  });

  it('the API refuses the same, and a gate that both pauses and waits for approval', () => {
    expect(rolloutCreateSchema.safeParse({ waves: [{ count: 1 }, { percent: 100 }] }).data).toEqual({
      waves: [{ count: 1 }, { percent: 100 }],
      maxFailureRate: 0,
      wavePauseMs: 0,
      approve: false,
    });
    const refused = (value: unknown): string[] =>
      rolloutCreateSchema.safeParse(value).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(refused({ waves: [{ percent: 50 }] })).toEqual([
      'waves: the last wave must cover every target: end with 100% (not 50%)',
    ]);
    expect(refused({ waves: [{ percent: 100 }], approve: true, wavePauseMs: 1000 })).toEqual([
      'wavePauseMs: give a wave pause or approve, not both',
    ]);
    expect(refused({ waves: [] })).toHaveLength(1);
    expect(refused({ waves: [{ percent: 100 }], maxFailureRate: 101 })).toHaveLength(1);
  });
});
