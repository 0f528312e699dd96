import type { Logger } from 'pino';
import type { RunExecutor } from './executor.ts';
import type { PtySpawner } from './pty-spawner.ts';

/** What a caller may swap or tune in an agent; the agent and the parts it opens both read it. */
export interface AgentDeps {
  logger?: Logger;
  /** Wall clock in ms: freshness, deadlines, timestamps. */
  now?: () => number;
  /** Reconnect backoff; tests shorten it. */
  backoff?: { initialMs: number; maxMs: number; random?: () => number };
  /** How long sent output may go unacknowledged before it is sent again. */
  ackTimeoutMs?: number;
  keepaliveSec?: number;
  /** Chunk cut: size and time. */
  chunkMaxBytes?: number;
  chunkFlushMs?: number;
  /** Publishes awaiting PUBACK at most. */
  publishWindow?: number;
  spoolSegmentMaxBytes?: number;
  loadPty?: () => Promise<PtySpawner | undefined>;
  /**
   * What starts a run's process; the real executor by default. The fleet benchmark swaps in
   * one that answers without forking, so one machine can stand for 10,000 nodes.
   */
  executor?: RunExecutor;
}
