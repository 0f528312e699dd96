import {
  ExitCode,
  isTerminalRunState,
  runStates,
  type JobDto,
  type RolloutLimit,
  type RunDto,
  type RunSpec,
  type RunState,
  type Target,
} from '@edgestelle/protocol';
import { escapeControl } from './escape-control.ts';

/** Pure formatting of what the master returns, for people. Machines get `--json`. */

/** Columns padded to their widest cell; the last column is left ragged. Cells are escaped: names and reasons come from nodes. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = [headers, ...rows].map((row) => row.map((cell) => escapeControl(cell).replace(/[\n\t]/g, ' ')));
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSec = Math.round(ms / 1000);
  if (totalSec < 3600) return `${Math.floor(totalSec / 60)}m${String(totalSec % 60).padStart(2, '0')}s`;
  const totalMin = Math.floor(totalSec / 60);
  if (totalMin < 1440) return `${Math.floor(totalMin / 60)}h${String(totalMin % 60).padStart(2, '0')}m`;
  return `${Math.floor(totalMin / 1440)}d${String(Math.floor((totalMin % 1440) / 60)).padStart(2, '0')}h`;
}

export function formatAge(atMs: number | null, nowMs: number): string {
  if (atMs === null) return 'never';
  const sec = Math.max(0, Math.floor((nowMs - atMs) / 1000));
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ago`;
  if (sec < 172_800) return `${Math.floor(sec / 3600)}h ago`;
  return `${Math.floor(sec / 86_400)}d ago`;
}

/** ISO time without milliseconds, in UTC, so output is the same on every operator's machine. */
export function formatTime(atMs: number | null): string {
  return atMs === null ? '-' : new Date(atMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatTags(tags: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`);
  return pairs.length === 0 ? '-' : pairs.join(',');
}

export function formatTarget(target: Target): string {
  if ('all' in target) return 'all nodes';
  if ('nodeIds' in target)
    return target.nodeIds.length <= 3 ? target.nodeIds.join(',') : `${target.nodeIds.length} nodes`;
  return `tag ${formatTags(target.tags)}`;
}

export function formatLimit(limit: RolloutLimit | null): string {
  if (limit === null) return '-';
  return 'count' in limit ? String(limit.count) : `${limit.percent}%`;
}

/** What a job runs, on one line. */
export function formatSpec(spec: RunSpec, maxChars = 48): string {
  const what = spec.command ?? `${spec.script?.interpreter ?? '?'} script`;
  const oneLine = what.replace(/\s+/g, ' ');
  return oneLine.length > maxChars ? `${oneLine.slice(0, maxChars - 1)}…` : oneLine;
}

/** A library script job as `name@version key=value…`, an inline one as its command. */
export function formatJobWhat(job: JobDto, maxChars = 48): string {
  if (job.script === null) return formatSpec(job.spec, maxChars);
  const params = Object.entries(job.params).map(([key, value]) => `${key}=${String(value)}`);
  const what = [`${job.script.name}@${job.script.version}`, ...params].join(' ').replace(/\s+/g, ' ');
  return what.length > maxChars ? `${what.slice(0, maxChars - 1)}…` : what;
}

/** Run states that count as a failure for the exit code and the summary. */
export function isFailedRunState(state: RunState): boolean {
  return isTerminalRunState(state) && state !== 'succeeded';
}

export interface Progress {
  total: number;
  done: number;
  failed: number;
  running: number;
  waiting: number;
}

export function countProgress(nodeCount: number, runs: readonly RunDto[]): Progress {
  const done = runs.filter((run) => isTerminalRunState(run.state)).length;
  const failed = runs.filter((run) => isFailedRunState(run.state)).length;
  const running = runs.filter((run) => run.state === 'running').length;
  const total = Math.max(nodeCount, runs.length);
  return { total, done, failed, running, waiting: total - done - running };
}

export function formatProgress(progress: Progress, elapsedMs: number): string {
  const parts = [`${progress.done}/${progress.total} done`];
  if (progress.failed > 0) parts.push(`${progress.failed} failed`);
  if (progress.running > 0) parts.push(`${progress.running} running`);
  if (progress.waiting > 0) parts.push(`${progress.waiting} waiting`);
  return `${parts.join(', ')} · ${formatDuration(elapsedMs)}`;
}

export function runDurationMs(run: RunDto): number | null {
  if (run.startedAt === null) return null;
  return (run.endedAt ?? run.startedAt) - run.startedAt;
}

/** One row per node, failures first so they are what the eye meets, then by node id. */
export function formatRunSummary(runs: readonly RunDto[]): string {
  const sorted = [...runs].sort(
    (a, b) => Number(isFailedRunState(b.state)) - Number(isFailedRunState(a.state)) || a.nodeId.localeCompare(b.nodeId),
  );
  const rows = sorted.map((run) => {
    const duration = runDurationMs(run);
    const reason = run.reason ?? (run.signal === null ? '' : `signal ${run.signal}`);
    return [
      run.nodeId,
      run.state,
      run.exitCode === null ? '-' : String(run.exitCode),
      duration === null ? '-' : formatDuration(duration),
      `${reason}${run.outputTruncated ? `${reason === '' ? '' : '; '}output truncated` : ''}`,
    ];
  });
  return formatTable(['NODE', 'STATE', 'EXIT', 'DURATION', 'REASON'], rows);
}

/** `3 runs: 2 succeeded, 1 failed` — counts by state, in the order of the run lifecycle (runStates). */
export function formatCounts(counts: Readonly<Partial<Record<RunState, number>>>): string {
  const entries = runStates.map((state) => [state, counts[state] ?? 0] as const).filter(([, n]) => n > 0);
  if (entries.length === 0) return '0 runs';
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return `${total} run${total === 1 ? '' : 's'}: ${entries.map(([state, n]) => `${n} ${state}`).join(', ')}`;
}

export function countRunStates(runs: readonly RunDto[]): Partial<Record<RunState, number>> {
  const counts: Partial<Record<RunState, number>> = {};
  for (const run of runs) counts[run.state] = (counts[run.state] ?? 0) + 1;
  return counts;
}

/** 0 only when there was at least one run and every run succeeded. */
export function jobExitCode(runs: readonly RunDto[]): ExitCode {
  return runs.length > 0 && runs.every((run) => run.state === 'succeeded') ? ExitCode.ok : ExitCode.runsFailed;
}

export function formatJobRow(job: JobDto, nowMs: number): string[] {
  return [
    job.jobId,
    formatAge(job.createdAt, nowMs),
    job.createdBy,
    job.state,
    job.outcome ?? '-',
    formatTarget(job.target),
    formatCounts(job.counts).replace(/^\d+ runs?: /, ''),
    formatJobWhat(job),
  ];
}
