/** Hands one message to the broker; resolves once the broker has taken it (QoS 1: its PUBACK). */
export type SendMessage = (topic: string, payload: Buffer) => Promise<void>;

/**
 * Publishes through a bounded in-flight window. mqtt.js slows to a few thousand messages a
 * second when tens of thousands of publishes are queued at once (STACK.md §4), and the
 * original lost most of a big job when it ran out of 16-bit packet ids; waiting for a slot
 * keeps both away. The in-process link to the embedded broker has neither problem, but a
 * 10,000-node fan-out handed to Aedes at once would still all wait in its publish queue.
 */
export class WindowedPublisher {
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly send: SendMessage,
    private readonly windowSize = 100,
  ) {}

  async publish(topic: string, payload: Buffer): Promise<void> {
    while (this.inFlight >= this.windowSize) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inFlight += 1;
    try {
      await this.send(topic, payload);
    } finally {
      this.inFlight -= 1;
      this.waiters.shift()?.();
    }
  }
}
