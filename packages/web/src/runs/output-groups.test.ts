import type { RunDto } from '@edgestelle/protocol';
import { newId } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { groupRuns, sha256Hex } from './output-groups.ts';

const jobId = newId();
function run(nodeId: string, state: RunDto['state'] = 'succeeded', exitCode: number | null = 0): RunDto {
  return {
    runId: newId(),
    jobId,
    nodeId,
    state,
    exitCode,
    signal: null,
    reason: null,
    createdAt: 1,
    startedAt: 1,
    endedAt: 2,
    outputBytes: 10,
    outputTruncated: false,
    chunkCount: 1,
    complete: true,
    wave: null,
  };
}

describe('groupRuns', () => {
  it('puts runs with the same output and outcome together, largest group first', () => {
    const [a, b, c, d, e] = [run('a'), run('b'), run('c'), run('d', 'failed', 1), run('e', 'running', null)];
    const digests = new Map([
      [a.runId, 'x'],
      [b.runId, 'y'],
      [c.runId, 'y'],
      [d.runId, 'y'],
    ]);
    const groups = groupRuns([a, b, c, d, e], digests);
    expect(groups.map((g) => g.runs.map((r) => r.nodeId))).toEqual([['b', 'c'], ['a'], ['d'], ['e']]);
    expect(groups[0]?.lead.nodeId).toBe('b');
  });

  it('leaves every run alone when no digest is known', () => {
    expect(groupRuns([run('a'), run('b')], new Map())).toHaveLength(2);
  });
});

describe('sha256Hex', () => {
  it('digests bytes as lowercase hex', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc').buffer)).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
