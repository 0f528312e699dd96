import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { BenchApi } from '../lib/api.ts';
import { forkChild, nodeFlagsFromEnv, type BenchChild } from '../lib/child.ts';
import { until } from '../lib/stats.ts';
import type { FleetSlice } from './fleet-process.ts';

/** At most this many agents per process: ~2 file descriptors each stays far below `ulimit -n` (20,000 here). */
const AGENTS_PER_PROCESS = 2500;

export interface FleetOptions {
  api: BenchApi;
  /** Where the agents' state dirs go (one folder per node). */
  baseDir: string;
  count: number;
  /** Node ids are `${namePrefix}-${i}`. */
  namePrefix: string;
  tags: Record<string, string>;
  /** Runs answered in-process (see light-executor.ts) instead of forking a shell. */
  light: boolean;
}

export interface Fleet {
  readonly count: number;
  readonly nodeIds: readonly string[];
  readonly pids: readonly number[];
  /** Forks the commands really ran (0 with the light executor). */
  spawns(): Promise<number>;
  stop(): Promise<void>;
}

const statsSchema = z.object({ type: z.literal('stats'), connected: z.number(), spawns: z.number() });

/**
 * N simulated nodes: real agents (createAgent) in ⌈N / 2,500⌉ child processes, and at least one
 * per core: real nodes each have their own CPU, and 1,000 simulated agents in one process were
 * one thread's work (2 ms a run), which alone set the 1,000-node fan-out's time while the other
 * core had room. Each enrolled with a join token through the master's API. Resolves once the
 * master has them all online.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const joinToken = await options.api.joinToken(options.count, options.tags);
  const nodeIds = Array.from({ length: options.count }, (_, i) => `${options.namePrefix}-${i}`);
  const processes = Math.max(
    Math.min(options.count, availableParallelism()),
    Math.ceil(options.count / AGENTS_PER_PROCESS),
  );
  const perProcess = Math.ceil(options.count / processes);
  const children: BenchChild[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => child.stop(120_000)));
  };
  try {
    const started = await Promise.allSettled(
      Array.from({ length: processes }, async (_, p) => {
        const slice: FleetSlice = {
          masterUrl: options.api.url,
          joinToken,
          nodeIds: nodeIds.slice(p * perProcess, (p + 1) * perProcess),
          baseDir: join(options.baseDir, options.namePrefix),
          light: options.light,
        };
        const { child } = await forkChild(
          new URL('./fleet-process.ts', import.meta.url),
          [JSON.stringify(slice)],
          z.object({ type: z.literal('ready'), agents: z.number() }),
          600_000,
          ['--max-old-space-size=4096', ...nodeFlagsFromEnv('EDGESTELLE_BENCH_FLEET_NODE_FLAGS')],
        );
        children.push(child);
      }),
    );
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    const [key, value] = Object.entries(options.tags)[0] ?? ['', ''];
    await until(
      async () => (await options.api.onlineCount(`${key}=${value}`)) >= options.count,
      `${options.count} nodes online at the master`,
      300_000,
      1000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    count: options.count,
    nodeIds,
    pids: children.map((child) => child.pid),
    async spawns() {
      const stats = await Promise.all(children.map((child) => child.call({ type: 'stats' }, statsSchema, 30_000)));
      return stats.reduce((sum, s) => sum + s.spawns, 0);
    },
    stop,
  };
}
