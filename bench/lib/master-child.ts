import { startMaster, type ChildMaster } from '@edgestelle/fleet-fixture';
import { BenchError, BenchErrorCode } from './errors.ts';
import { nodeFlagsFromEnv } from './child.ts';

export interface BenchMaster {
  readonly master: ChildMaster;
  /** The master's own process, whose RSS and CPU the bench reads. */
  readonly pid: number;
}

/** `edgestelle master` in its own process: embedded broker unless `mqttUrl`; SQLite in its temp dir. */
export async function startMasterChild(config: { mqttUrl?: string; topicPrefix: string }): Promise<BenchMaster> {
  const flags = nodeFlagsFromEnv('EDGESTELLE_BENCH_MASTER_NODE_FLAGS');
  const master = await startMaster({
    mode: 'child',
    config: { topicPrefix: config.topicPrefix, mqttUrl: config.mqttUrl },
    env: flags.length === 0 ? {} : { NODE_OPTIONS: flags.join(' ') },
  });
  const pid = master.pid();
  if (pid === undefined) {
    await master[Symbol.asyncDispose]();
    throw new BenchError(BenchErrorCode.childFailed, 'the master process has no pid');
  }
  return { master, pid };
}
