import { describe, expect, it } from 'vitest';
import { ID_PATTERN, idTimeMs, newId } from './ids.ts';

describe('ids', () => {
  it('are 26 lowercase base32 characters and carry their creation time', () => {
    const id = newId(1767225600123);
    expect(id).toMatch(ID_PATTERN);
    expect(idTimeMs(id)).toBe(1767225600123);
  });

  it('sort by creation time as plain strings', () => {
    const times = [0, 1, 31, 32, 1_000_000, 1767225600000, 1767225600001, 4102444800000];
    const ids = times.map((t) => newId(t));
    expect([...ids].sort()).toEqual(ids);
  });

  it('do not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newId(1)));
    expect(ids.size).toBe(10_000);
  });
});
