import type { RunDto } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '@edgestelle/protocol';
import {
  countProgress,
  formatAge,
  formatCounts,
  formatDuration,
  formatProgress,
  formatRunSummary,
  formatTable,
  formatTarget,
  jobExitCode,
} from './format.ts';

function run(nodeId: string, state: RunDto['state'], extra: Partial<RunDto> = {}): RunDto {
  return {
    runId: '0000000000aaaaaaaaaaaaaaaa',
    jobId: '0000000000bbbbbbbbbbbbbbbb',
    nodeId,
    state,
    exitCode: null,
    signal: null,
    reason: null,
    createdAt: 1000,
    startedAt: null,
    endedAt: null,
    outputBytes: 0,
    outputTruncated: false,
    chunkCount: 0,
    complete: false,
    wave: null,
    ...extra,
  };
}

describe('formatTable', () => {
  it('pads columns to the widest cell and escapes control characters', () => {
    expect(
      formatTable(
        ['A', 'B'],
        [
          ['long-value', 'x'],
          ['y\x1b[2J', 'z'],
        ],
      ),
    ).toBe(['A           B', 'long-value  x', 'y\\x1b[2J    z'].join('\n'));
  });
});

describe('formatDuration and formatAge', () => {
  it('uses the largest fitting unit', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatDuration(2 * 86_400_000 + 3_600_000)).toBe('2d01h');
  });

  it('says how long ago', () => {
    expect(formatAge(null, 0)).toBe('never');
    expect(formatAge(0, 5_500)).toBe('5s ago');
    expect(formatAge(0, 3 * 3_600_000)).toBe('3h ago');
    expect(formatAge(0, 5 * 86_400_000)).toBe('5d ago');
  });
});

describe('formatTarget', () => {
  it('names each kind of target', () => {
    expect(formatTarget({ all: true })).toBe('all nodes');
    expect(formatTarget({ nodeIds: ['a', 'b'] })).toBe('a,b');
    expect(formatTarget({ nodeIds: ['a', 'b', 'c', 'd'] })).toBe('4 nodes');
    expect(formatTarget({ tags: { site: 'x', role: 'db' } })).toBe('tag role=db,site=x');
  });
});

describe('progress and summary', () => {
  const runs = [
    run('b', 'succeeded', { exitCode: 0, startedAt: 1000, endedAt: 2500 }),
    run('a', 'failed', { exitCode: 3, startedAt: 1000, endedAt: 1200 }),
    run('c', 'running', { startedAt: 1000 }),
  ];

  it('counts done, failed, running and waiting nodes', () => {
    expect(countProgress(4, runs)).toEqual({ total: 4, done: 2, failed: 1, running: 1, waiting: 1 });
    expect(formatProgress(countProgress(4, runs), 2000)).toBe('2/4 done, 1 failed, 1 running, 1 waiting · 2.0s');
  });

  it('lists failures first with exit code and duration', () => {
    expect(formatRunSummary(runs).split('\n')).toEqual([
      'NODE  STATE      EXIT  DURATION  REASON',
      'a     failed     3     200ms',
      'b     succeeded  0     1.5s',
      'c     running    -     0ms',
    ]);
  });

  it('counts runs by state', () => {
    expect(formatCounts({ succeeded: 2, failed: 1, running: 0 })).toBe('3 runs: 2 succeeded, 1 failed');
    expect(formatCounts({})).toBe('0 runs');
  });

  it('exits 0 only when every run succeeded', () => {
    expect(jobExitCode([run('a', 'succeeded')])).toBe(ExitCode.ok);
    expect(jobExitCode([run('a', 'succeeded'), run('b', 'timed_out')])).toBe(ExitCode.runsFailed);
    expect(jobExitCode([])).toBe(ExitCode.runsFailed);
  });
});
