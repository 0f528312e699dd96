import type { MqttClient } from 'mqtt';

/**
 * Publishes through a bounded in-flight window. mqtt.js slows to a few thousand messages a
 * second when tens of thousands of publishes are queued at once (docs/DESIGN.md "Delivery guarantees"), and the
 * original lost most of a big job when it ran out of 16-bit packet ids; waiting for a slot
 * keeps both away.
 */
export class WindowedPublisher {
  private inFlight = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly client: MqttClient,
    private readonly windowSize = 100,
  ) {}

  async publish(topic: string, payload: Buffer, qos: 0 | 1 = 1): Promise<void> {
    while (this.inFlight >= this.windowSize) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inFlight += 1;
    try {
      await new Promise<void>((resolve, reject) =>
        this.client.publish(topic, payload, { qos }, (err) => (err ? reject(err) : resolve())),
      );
    } finally {
      this.inFlight -= 1;
      this.waiters.shift()?.();
    }
  }
}
