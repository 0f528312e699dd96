import type { ProtocolErrorCode } from '@edgestelle/protocol';

/** Why commands were refused, by protocol error code; `misdirected` is a message on a topic that is not ours. */
export type RejectionCode = ProtocolErrorCode | 'misdirected';
export type RejectionCounts = Partial<Record<RejectionCode, number>>;

export interface AgentStats {
  readonly nodeId: string;
  readonly connectionSeq: number;
  readonly connected: boolean;
  readonly rejections: Readonly<RejectionCounts>;
  /** Run commands received again for a run id the ledger knows, answered with its state. */
  readonly redeliveries: number;
  readonly spawns: number;
  readonly runningRuns: number;
  readonly queuedRuns: number;
  readonly spoolBytes: number;
  readonly published: number;
}

/** What the agent counts as it goes, for {@link AgentStats}. */
export class AgentCounters {
  readonly rejections: RejectionCounts = {};
  redeliveries = 0;
  spawns = 0;

  /** Counts one refused command and returns the count so far for its code. */
  rejected(code: RejectionCode): number {
    const count = (this.rejections[code] ?? 0) + 1;
    this.rejections[code] = count;
    return count;
  }
}
