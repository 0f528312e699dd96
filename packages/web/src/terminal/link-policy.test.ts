import { describe, expect, it } from 'vitest';
import { openExternalLink, safeExternalUrl } from './link-policy.ts';

describe('safeExternalUrl', () => {
  it('lets http and https through, normalised', () => {
    expect(safeExternalUrl('https://example.com/a b')).toBe('https://example.com/a%20b');
    expect(safeExternalUrl('HTTP://Example.com')).toBe('http://example.com/');
  });

  it.each([
    'javascript:alert(1)',
    ' JavaScript:alert(1)',
    'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'file:///etc/passwd',
    'vbscript:msgbox',
    'blob:https://example.com/x',
    'ftp://example.com',
    '//example.com',
    'not a url',
    '',
  ])('refuses %j', (uri) => {
    expect(safeExternalUrl(uri)).toBeNull();
  });
});

describe('openExternalLink', () => {
  it('opens a vetted link without an opener and refuses the rest', () => {
    const opened: string[][] = [];
    const open = (...args: string[]) => opened.push(args);
    expect(openExternalLink('https://example.com', open)).toBe(true);
    expect(openExternalLink('javascript:alert(1)', open)).toBe(false);
    expect(opened).toEqual([['https://example.com/', '_blank', 'noopener,noreferrer']]);
  });
});
