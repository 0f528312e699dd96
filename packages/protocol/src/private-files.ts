import { chmodSync, fchmodSync, fstatSync, mkdirSync, statSync, type Stats } from 'node:fs';

/** What was found, for the caller to log or refuse in its own words. */
export type Privacy =
  | { readonly state: 'private' }
  /** It was open to group or others (`mode`) and is this process's own: it is private now. */
  | { readonly state: 'tightened'; readonly mode: number }
  /** Open to group or others and another user's: left as it was. */
  | { readonly state: 'foreign'; readonly mode: number; readonly ownerUid: number; readonly processUid: number };

/**
 * The master's data dir and the agent's state dir hold keys, password hashes and every run's
 * output, so only their user may enter them (0700): made so, with any missing parents, or
 * tightened when one exists open to group or others and belongs to this process. The mode is set
 * explicitly, whatever the umask. Another user's folder is not changed: the caller refuses it.
 */
export function ensurePrivateDir(path: string): Privacy {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  return tighten(statSync(path), () => chmodSync(path, 0o700));
}

/** The same for an open file: 0600 unless it is another user's. */
export function ensurePrivateFile(fd: number): Privacy {
  return tighten(fstatSync(fd), () => fchmodSync(fd, 0o600));
}

function tighten(stat: Stats, makePrivate: () => void): Privacy {
  const mode = stat.mode & 0o7777;
  if ((mode & 0o077) === 0) return { state: 'private' };
  // Without user ids (Windows) everything counts as this process's own.
  const processUid = process.getuid?.() ?? stat.uid;
  if (stat.uid !== processUid) return { state: 'foreign', mode, ownerUid: stat.uid, processUid };
  makePrivate();
  return { state: 'tightened', mode };
}

/** `0755`, as an operator types it. */
export function octalMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}
