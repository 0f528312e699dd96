/** Messages that may arrive early are held at most this many at a time. */
const HELD_MAX = 256;

/**
 * Applies numbered messages in order, from 0, exactly once: a seq already applied is a
 * re-delivery and dropped; one ahead of the next is held until the gap fills. A gap that never
 * fills (more than {@link HELD_MAX} held) is reported once, and nothing more is applied.
 */
export class SequencedInbox<T> {
  private next = 0;
  private readonly held = new Map<number, T>();
  private broken = false;

  constructor(private readonly options: { apply: (message: T) => void; onOverflow: () => void }) {}

  /** How many messages were applied: the seq expected next. */
  get applied(): number {
    return this.next;
  }

  receive(seq: number, message: T): void {
    if (this.broken || seq < this.next || this.held.has(seq)) return;
    if (seq > this.next) {
      this.held.set(seq, message);
      if (this.held.size > HELD_MAX) {
        this.broken = true;
        this.held.clear();
        this.options.onOverflow();
      }
      return;
    }
    this.options.apply(message);
    this.next += 1;
    for (let early = this.held.get(this.next); early !== undefined; early = this.held.get(this.next)) {
      this.held.delete(this.next);
      this.options.apply(early);
      this.next += 1;
    }
  }
}
