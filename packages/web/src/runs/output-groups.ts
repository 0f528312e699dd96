import type { RunDto } from '@edgestelle/protocol';

export interface OutputGroup {
  /** The run whose terminal stands for the group. */
  lead: RunDto;
  runs: RunDto[];
}

/**
 * Groups runs whose stored output is byte-for-byte the same (same digest) and that ended
 * the same way; runs without a digest yet (still running, or not fetched) stay alone.
 * Groups come largest first, so the odd ones out are easy to spot at the end.
 */
export function groupRuns(runs: readonly RunDto[], digests: ReadonlyMap<string, string>): OutputGroup[] {
  const groups = new Map<string, RunDto[]>();
  for (const run of runs) {
    const digest = digests.get(run.runId);
    const key = digest === undefined ? `run:${run.runId}` : `${digest}:${run.state}:${String(run.exitCode)}`;
    const members = groups.get(key);
    if (members === undefined) groups.set(key, [run]);
    else members.push(run);
  }
  return [...groups.values()]
    .flatMap((members) => {
      const lead = members[0];
      return lead === undefined ? [] : [{ lead, runs: members }];
    })
    .sort((a, b) => b.runs.length - a.runs.length);
}

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}
