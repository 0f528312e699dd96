import type { NodeDto } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { shellUnavailable, shellUrl } from './shell-availability.ts';

const capabilities = { pty: true, ptyKind: 'script', shell: true, runAs: false } as const;
const node = (
  online: boolean,
  caps: NodeDto['facts'] extends infer F ? (F extends { capabilities: infer C } ? C : never) : never,
): NodeDto => ({
  nodeId: 'n1',
  name: 'n1',
  online,
  tags: {},
  facts: {
    hostname: 'h',
    os: 'linux',
    osRelease: 'x',
    arch: 'x64',
    kernel: '6',
    agentVersion: '0.2.0',
    tags: {},
    cpuCount: 2,
    loadAvg: [0, 0, 0],
    memTotalBytes: 1,
    memAvailableBytes: 1,
    diskTotalBytes: 1,
    diskFreeBytes: 1,
    uptimeSec: 1,
    runningRuns: 0,
    maxConcurrentRuns: 4,
    capabilities: caps,
  },
  lastSeenAt: 0,
  enrolledAt: 0,
  revokedAt: null,
});

describe('whether a node can give a shell', () => {
  it('names why not: offline, an agent without shell sessions, no terminal', () => {
    expect(shellUnavailable(node(true, capabilities))).toBeNull();
    expect(shellUnavailable(node(false, capabilities))).toBe('shellOffline');
    expect(shellUnavailable(node(true, { pty: true, runAs: false }))).toBe('shellOldAgent');
    expect(shellUnavailable(node(true, { ...capabilities, pty: false, ptyKind: 'none' }))).toBe('shellNoPty');
  });

  it('builds the WebSocket address on the page’s own origin', () => {
    expect(shellUrl({ protocol: 'https:', host: 'm.example:8443' }, 'edge 1', 80, 24)).toBe(
      'wss://m.example:8443/api/v1/nodes/edge%201/shell?cols=80&rows=24&term=xterm-256color',
    );
  });
});
