import { EventEmitter } from 'node:events';
import type { OutputStream } from '@edgestelle/protocol';

/** A chunk as committed to the database. */
export interface StoredChunk {
  runId: string;
  seq: number;
  stream: OutputStream;
  data: Uint8Array;
}

/**
 * What changed, announced only after the change is committed. The live hub reads the database
 * for the current state; events carry ids, plus the new chunks so a subscriber at the head of
 * a run need not read them back.
 */
export interface MasterEventMap {
  node: [nodeId: string];
  run: [runId: string, jobId: string];
  job: [jobId: string];
  /** The job was paused, at a rollout's gate or by an operator, with why (emitted once per pause by the master that paused it). */
  jobPaused: [jobId: string, reason: string];
  chunks: [runId: string, chunks: readonly StoredChunk[]];
}

export class MasterEvents extends EventEmitter<MasterEventMap> {
  constructor() {
    super();
    // One listener per live subscription: the hub bounds the count, not this emitter.
    this.setMaxListeners(0);
  }
}
