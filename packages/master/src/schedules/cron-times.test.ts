import { describe, expect, it } from 'vitest';
import { MasterError } from '../errors.ts';
import { jitterFor, nextFireAfter, nextFireTimes, parseCron, type CronTiming } from './cron-times.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();
const daily = (cron: string, timezone: string): CronTiming => ({ cron, timezone, startAt: null, endAt: null });

/** Every fire from `from` on, one after the other, as the scheduler walks them. */
function walk(timing: CronTiming, from: string, count: number): string[] {
  const out: string[] = [];
  let cursor = at(from);
  for (let i = 0; i < count; i += 1) {
    const next = nextFireAfter(timing, cursor);
    if (next === null) break;
    out.push(iso(next));
    cursor = next;
  }
  return out;
}

describe('cron times in a time zone', () => {
  it('Europe/Berlin: 02:30 in the skipped hour (29 March 2026) fires once, at 03:00 local', () => {
    expect(walk(daily('30 2 * * *', 'Europe/Berlin'), '2026-03-28T00:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 03:00 CEST: 02:30 does not exist
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  it('Europe/Berlin: 02:30 in the repeated hour (25 October 2026) fires once', () => {
    expect(walk(daily('30 2 * * *', 'Europe/Berlin'), '2026-10-24T00:00:00Z', 3)).toEqual([
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); the second (01:30Z, CET) is not fired
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('America/New_York: 02:30 in the skipped hour (8 March 2026) fires once, at 03:00 local', () => {
    expect(walk(daily('30 2 * * *', 'America/New_York'), '2026-03-07T00:00:00Z', 3)).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  it('America/New_York: 01:30 in the repeated hour (1 November 2026) fires once', () => {
    expect(walk(daily('30 1 * * *', 'America/New_York'), '2026-10-31T00:00:00Z', 3)).toEqual([
      '2026-10-31T05:30:00.000Z',
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) is not fired
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('keeps to startAt and endAt', () => {
    const timing: CronTiming = {
      cron: '0 * * * *',
      timezone: 'UTC',
      startAt: at('2026-01-01T10:00:00Z'),
      endAt: at('2026-01-01T12:00:00Z'),
    };
    expect(nextFireTimes(timing, at('2025-12-31T00:00:00Z'), 5).map(iso)).toEqual([
      '2026-01-01T10:00:00.000Z',
      '2026-01-01T11:00:00.000Z',
      '2026-01-01T12:00:00.000Z',
    ]);
    expect(nextFireAfter(timing, at('2026-01-01T12:00:00Z'))).toBeNull();
  });

  it('refuses anything but 5 valid fields, naming the field', () => {
    for (const bad of ['* * * *', '0 * * * * *', '61 * * * *', 'every day']) {
      expect(() => parseCron(bad, 'UTC'), bad).toThrow(MasterError);
    }
    const refusal = (() => {
      try {
        return parseCron('0 * * * * *', 'UTC');
      } catch (err) {
        return err;
      }
    })();
    expect(refusal).toMatchObject({ code: 'invalid_request', field: 'cron' });
  });

  it('jitter is the same for every master and within bounds', () => {
    const fire = at('2026-05-01T00:00:00Z');
    expect(jitterFor('s1', fire, 0)).toBe(0);
    const values = Array.from({ length: 50 }, (_, i) => jitterFor('s1', fire + i * 60_000, 30_000));
    expect(values.every((v) => v >= 0 && v <= 30_000)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(10);
    expect(jitterFor('s1', fire, 30_000)).toBe(jitterFor('s1', fire, 30_000));
  });
});
