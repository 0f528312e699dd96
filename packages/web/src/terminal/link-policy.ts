/**
 * Output is data: a link in it may open only as a plain web page. `javascript:`, `data:`,
 * `file:` and every other scheme are refused, whether the link came from URL detection
 * or an OSC 8 escape sequence.
 */
export function safeExternalUrl(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

/** Opens a vetted link in a new tab that cannot reach back into the console (`noopener`). */
export function openExternalLink(
  uri: string,
  open: (url: string, target: string, features: string) => unknown,
): boolean {
  const url = safeExternalUrl(uri);
  if (url === null) return false;
  open(url, '_blank', 'noopener,noreferrer');
  return true;
}
