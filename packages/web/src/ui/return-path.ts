/**
 * Where to go after logging in: a path inside the console only. An absolute URL, a
 * protocol-relative `//host` or a `/\host` (which browsers read as `//host`) falls back to
 * the fleet, so a crafted login link cannot send an operator elsewhere.
 */
export function safeReturnPath(redirect: unknown, fallback = '/fleet'): string {
  if (typeof redirect !== 'string' || !redirect.startsWith('/')) return fallback;
  if (redirect.startsWith('//') || redirect.includes('\\')) return fallback;
  return redirect;
}
