import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { errnoCode } from './fs-errors.ts';

/**
 * Signals a whole process group (the run's leader was spawned detached, so it leads one and
 * every child and grandchild shares it unless it calls setsid). Returns false when the group
 * is empty.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return false;
    throw err;
  }
}

/** Peak resident set of one process (VmHWM), or undefined once it is gone. */
export async function peakRssBytes(pid: number): Promise<number | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return undefined;
    throw err;
  }
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

/**
 * Whether `pid` still leads its own process group: how a restarted agent tells a run it left
 * behind from an unrelated process that reused the pid.
 */
export function leadsProcessGroup(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  // Fields after the parenthesised command name: state ppid pgrp …
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[2]) === pid;
}
