import { describe, expect, it } from 'vitest';
import { safeReturnPath } from './return-path.ts';

describe('safeReturnPath', () => {
  it('keeps a path inside the console, query and hash included', () => {
    expect(safeReturnPath('/jobs/abc?layout=side#x')).toBe('/jobs/abc?layout=side#x');
  });

  it.each([
    undefined,
    null,
    ['/fleet'],
    '',
    'https://evil.example/',
    '//evil.example',
    '/\\evil.example',
    'javascript:alert(1)',
  ])('falls back to the fleet for %j', (redirect) => {
    expect(safeReturnPath(redirect)).toBe('/fleet');
  });
});
