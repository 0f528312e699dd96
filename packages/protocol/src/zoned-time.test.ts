import { describe, expect, it } from 'vitest';
import { zonedTime } from './schedules.ts';

describe('zonedTime', () => {
  it('reads a time in the zone, the DST change visible in the offset', () => {
    expect(zonedTime(Date.parse('2026-03-29T00:30:00Z'), 'Europe/Berlin')).toBe('2026-03-29 01:30 GMT+1');
    expect(zonedTime(Date.parse('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe('2026-03-29 03:00 GMT+2');
    expect(zonedTime(Date.parse('2026-11-01T05:30:00Z'), 'America/New_York')).toBe('2026-11-01 01:30 GMT−4');
    expect(zonedTime(Date.parse('2026-11-01T06:30:00Z'), 'America/New_York')).toBe('2026-11-01 01:30 GMT−5');
  });
});
