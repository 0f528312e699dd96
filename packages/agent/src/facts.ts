import { readFileSync, statfsSync } from 'node:fs';
import { arch, availableParallelism, freemem, hostname, loadavg, platform, release, totalmem, uptime } from 'node:os';
import type { NodeFacts, PtyKindReport } from '@edgestelle/protocol';
import * as z from 'zod';
import { isNotFound } from './fs-errors.ts';

const packageSchema = z.object({ version: z.string().max(64) });

/** The agent's own version, from the package.json next to src/ and dist/ alike. */
export const agentVersion: string = packageSchema.parse(
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')),
).version;

function osRelease(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1];
    return (pretty ?? 'unknown').slice(0, 256);
  } catch (err) {
    if (isNotFound(err)) return 'unknown';
    throw err;
  }
}

const osReleaseText = osRelease();

export interface FactsInput {
  tags: Readonly<Record<string, string>>;
  stateDir: string;
  runningRuns: number;
  maxConcurrentRuns: number;
  pty: PtyKindReport;
  runAs: boolean;
}

/** What the retained state tells the master about this node; cheap enough for every heartbeat. */
export function collectFacts(input: FactsInput): NodeFacts {
  const disk = statfsSync(input.stateDir);
  const clamp = (n: number): number => Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(n)));
  return {
    hostname: hostname().slice(0, 255),
    os: platform(),
    osRelease: osReleaseText,
    arch: arch(),
    kernel: release().slice(0, 256),
    agentVersion,
    tags: { ...input.tags },
    cpuCount: availableParallelism(),
    loadAvg: loadavg().map((n) => Math.min(1e6, Math.max(0, n))),
    memTotalBytes: clamp(totalmem()),
    memAvailableBytes: clamp(freemem()),
    diskTotalBytes: clamp(disk.blocks * disk.bsize),
    diskFreeBytes: clamp(disk.bavail * disk.bsize),
    uptimeSec: clamp(uptime()),
    runningRuns: input.runningRuns,
    maxConcurrentRuns: input.maxConcurrentRuns,
    capabilities: { pty: input.pty !== 'none', ptyKind: input.pty, shell: true, runAs: input.runAs },
  };
}
