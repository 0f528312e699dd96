import { readFileSync } from 'node:fs';

export interface UserAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/**
 * Finds a local account in /etc/passwd. Node has no getpwnam(); accounts from NSS sources
 * (LDAP, sssd) are not seen, which the run's rejection reason says.
 */
export function lookupUser(name: string, passwdPath = '/etc/passwd'): UserAccount | undefined {
  for (const line of readFileSync(passwdPath, 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || fields[0] !== name) continue;
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
    return { name, uid, gid, home: fields[5] ?? '/', shell: fields[6] ?? '/bin/sh' };
  }
  return undefined;
}
