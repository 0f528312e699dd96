import type { NodeDto } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { matchesFilter, matchesTags, nodeStatus, nodeUsage, parseTagExpression } from './node-view.ts';

function node(overrides: Partial<NodeDto> = {}, runningRuns = 0): NodeDto {
  return {
    nodeId: 'edge-001',
    name: 'Edge Berlin 1',
    online: true,
    tags: { role: 'edge', site: 'berlin' },
    facts: {
      hostname: 'edge-001.example',
      os: 'linux',
      osRelease: 'Debian GNU/Linux 12',
      arch: 'arm64',
      kernel: '6.1.0',
      agentVersion: '0.1.0',
      tags: {},
      cpuCount: 4,
      loadAvg: [2, 1, 0.5],
      memTotalBytes: 1000,
      memAvailableBytes: 250,
      diskTotalBytes: 100,
      diskFreeBytes: 90,
      uptimeSec: 10,
      runningRuns,
      maxConcurrentRuns: 4,
      capabilities: { pty: true, runAs: false },
    },
    lastSeenAt: 1,
    enrolledAt: 1,
    revokedAt: null,
    ...overrides,
  };
}

describe('nodeStatus', () => {
  it('tells online, busy, offline and revoked apart', () => {
    expect(nodeStatus(node())).toBe('online');
    expect(nodeStatus(node({}, 2))).toBe('busy');
    expect(nodeStatus(node({ online: false }, 2))).toBe('offline');
    expect(nodeStatus(node({ revokedAt: 5 }))).toBe('revoked');
  });
});

describe('matchesFilter', () => {
  const none = { text: '', tag: null, status: null };

  it('matches every word of the text against name, id, facts and tags', () => {
    expect(matchesFilter(node(), { ...none, text: 'berlin arm64' })).toBe(true);
    expect(matchesFilter(node(), { ...none, text: 'EDGE-001' })).toBe(true);
    expect(matchesFilter(node(), { ...none, text: 'site=berlin debian' })).toBe(true);
    expect(matchesFilter(node(), { ...none, text: 'berlin x86' })).toBe(false);
  });

  it('filters by one tag and by status', () => {
    expect(matchesFilter(node(), { ...none, tag: 'role=edge' })).toBe(true);
    expect(matchesFilter(node(), { ...none, tag: 'role=core' })).toBe(false);
    expect(matchesFilter(node(), { ...none, status: 'offline' })).toBe(false);
    expect(matchesFilter(node({ online: false }), { ...none, status: 'offline' })).toBe(true);
  });
});

describe('parseTagExpression', () => {
  it('reads key=value words, all of which must match', () => {
    const tags = parseTagExpression(' role=edge, site=berlin ');
    expect(tags).toEqual({ role: 'edge', site: 'berlin' });
    expect(matchesTags(node(), tags ?? {})).toBe(true);
    expect(matchesTags(node(), { role: 'edge', site: 'paris' })).toBe(false);
    expect(parseTagExpression('a=b=c')).toEqual({ a: 'b=c' });
  });

  it('refuses words without a key and value separator, and empty input', () => {
    expect(parseTagExpression('role')).toBeNull();
    expect(parseTagExpression('=edge')).toBeNull();
    expect(parseTagExpression('   ')).toBeNull();
  });
});

describe('nodeUsage', () => {
  it('gives load per CPU and used fractions, null without facts', () => {
    expect(nodeUsage(node())).toEqual({ load: 0.5, memory: 0.75, disk: 0.1 });
    expect(nodeUsage(node({ facts: null }))).toEqual({ load: null, memory: null, disk: null });
  });
});
