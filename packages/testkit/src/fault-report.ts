import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';

/**
 * The fault suite runs at two sizes: `ci` inside the normal test run (minutes on two cores),
 * and `long` from `npm run test:faults` (EDGESTELLE_FAULT_SCALE=long).
 */
export type FaultScale = 'ci' | 'long';

export function faultScale(): FaultScale {
  return process.env.EDGESTELLE_FAULT_SCALE === 'long' ? 'long' : 'ci';
}

/** The CI figure, or the long one under EDGESTELLE_FAULT_SCALE=long. */
export function sized<T>(ci: T, long: T): T {
  return faultScale() === 'long' ? long : ci;
}

/** One line of the fault table. */
export interface FaultRow {
  scenario: string;
  load: string;
  faults: string;
  badInputs: number;
  lost: number;
  doubled: number;
  /** Counters the system exposed, for the record. */
  observed?: Record<string, number | string | boolean>;
}

/**
 * Appends a row to the JSON-lines file named by EDGESTELLE_FAULT_REPORT, which
 * `npm run test:faults` prints as a table; without it, nothing is written. Tests record
 * before they assert, so a failing scenario shows its figures too.
 */
export function recordFault(row: FaultRow): void {
  const file = process.env.EDGESTELLE_FAULT_REPORT;
  if (file === undefined || file === '') return;
  appendFileSync(file, `${JSON.stringify({ ...row, scale: faultScale(), at: new Date().toISOString() })}\n`);
}

/** A POSIX sh loop printing `<label> <n>` for n = 1..count, a pause every `pauseEvery` lines. */
export function numberedLinesScript(count: number, label: string, pauseEvery = 0, pauseSec = 0.05): string {
  const pause = pauseEvery > 0 ? `if [ $((i % ${pauseEvery})) -eq 0 ]; then sleep ${pauseSec}; fi; ` : '';
  return `i=1; while [ $i -le ${count} ]; do echo "${label} $i"; ${pause}i=$((i+1)); done`;
}

/** Exactly what {@link numberedLinesScript} prints. */
export function numberedLines(count: number, label: string, from = 1): string {
  let text = '';
  for (let i = from; i <= count; i += 1) text += `${label} ${i}\n`;
  return text;
}

export interface LineCount {
  /** Numbers 1..count never seen. */
  lost: number;
  /** Extra copies of numbers already seen. */
  doubled: number;
  /** Lines that are not `<label> <n>` with n in range. */
  foreign: number;
  /** Whether the stored bytes hash the same as what the script printed. */
  hashMatches: boolean;
}

/** Counts loss and duplication of numbered lines, and compares the whole by SHA-256. */
export function countNumberedLines(stored: string | Buffer, count: number, label: string, from = 1): LineCount {
  const text = typeof stored === 'string' ? stored : stored.toString('utf8');
  const seen = new Uint32Array(count + 1);
  let foreign = 0;
  const prefix = `${label} `;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const n = line.startsWith(prefix) ? Number(line.slice(prefix.length)) : Number.NaN;
    if (Number.isInteger(n) && n >= from && n <= count) seen[n] = (seen[n] ?? 0) + 1;
    else foreign += 1;
  }
  let lost = 0;
  let doubled = 0;
  for (let n = from; n <= count; n += 1) {
    const times = seen[n] ?? 0;
    if (times === 0) lost += 1;
    else doubled += times - 1;
  }
  return { lost, doubled, foreign, hashMatches: sha256(text) === sha256(numberedLines(count, label, from)) };
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
