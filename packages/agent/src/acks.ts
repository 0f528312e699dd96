import type { Ledger } from './ledger.ts';
import type { Outbox } from './outbox.ts';
import type { Spool } from './spool.ts';

/**
 * The master's `ack {runId, seq}`: every record of the run up to seq is stored. The spool lets
 * those go, and the outbox gets room (and sees progress if the ack moved); an acknowledged
 * `exited` makes the run `delivered` in the ledger (the lifecycle's `acknowledged`).
 */
export class AckHandler {
  constructor(
    private readonly spool: Spool,
    private readonly ledger: Ledger,
    private readonly outbox: Outbox,
  ) {}

  ack(runId: string, seq: number): void {
    const run = this.spool.get(runId);
    if (run === undefined) return;
    // The spool's copy goes with this ack without waiting for the ledger's `exited` to be on
    // disk: the master holds the exit now, so a power cut that took that line only makes the
    // next start report the run `interrupted`, which the master ignores (the first exit stands).
    // One fdatasync a run fewer, on nodes whose SD cards wear with each.
    const before = run.ackedThrough;
    const delivered = this.spool.ack(run, seq);
    if (delivered && this.ledger.get(runId) !== undefined) this.ledger.update(runId, { state: 'delivered' });
    this.outbox.acked(runId, delivered || run.ackedThrough > before);
  }
}
