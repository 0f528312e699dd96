import { randomBytes } from 'node:crypto';
import {
  newId,
  Topics,
  type Command,
  type ExitedEvent,
  type RunSpecInput,
  runSpecSchema,
  type StateMessage,
} from '@edgestelle/protocol';
import { openMessage, sealMessage, type SealingKey } from '@edgestelle/protocol/envelope';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * A small stand-in for the master: it opens the node's events, "stores" chunks idempotently by
 * (runId, seq), acknowledges the highest contiguous seq after storing (batched), and counts
 * everything. It stays for what a real master never does or never shows: withholding or losing
 * acks, forgetting what it did not acknowledge, delivering a command again, forged, replayed or
 * misdirected commands, and each event kind on the wire. Tests a real master can serve use
 * `startMaster` of @edgestelle/fleet-fixture.
 */
export interface StoredRun {
  chunks: Map<number, { stream: string; data: Buffer }>;
  exited: ExitedEvent | undefined;
  /** Deliveries of a chunk the master had already stored. */
  duplicates: number;
  acked: number;
}

export class TestMaster {
  readonly runs = new Map<string, StoredRun>();
  readonly events: { kind: string; runId?: string; code?: string; pid?: number }[] = [];
  readonly states: StateMessage[] = [];
  readonly topics = new Topics();
  acking = true;
  lostAcks = 0;
  private client: MqttClient;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly pendingAcks = new Set<string>();

  private constructor(
    client: MqttClient,
    readonly nodeId: string,
    readonly key: SealingKey,
  ) {
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  static async start(url: string, nodeId: string, key: SealingKey, tls: IClientOptions = {}): Promise<TestMaster> {
    const client = await mqtt.connectAsync(url, {
      ...tls,
      protocolVersion: 4,
      clientId: `test-master-${randomBytes(4).toString('hex')}`,
      reconnectPeriod: 100,
      connectTimeout: 2000,
    });
    const master = new TestMaster(client, nodeId, key);
    await client.subscribeAsync([master.topics.node(nodeId, 'evt'), master.topics.node(nodeId, 'state')], { qos: 1 });
    return master;
  }

  get cmdTopic(): string {
    return this.topics.node(this.nodeId, 'cmd');
  }

  run(runId: string): StoredRun {
    let run = this.runs.get(runId);
    if (run === undefined) {
      run = { chunks: new Map(), exited: undefined, duplicates: 0, acked: -1 };
      this.runs.set(runId, run);
    }
    return run;
  }

  /** Seals and publishes a command; `nowMs` back- or post-dates it. */
  async send(command: Command, options: { nowMs?: number; key?: SealingKey; topic?: string } = {}): Promise<Buffer> {
    const topic = options.topic ?? this.cmdTopic;
    const payload = sealMessage(topic, command, options.key ?? this.key, { nowMs: options.nowMs ?? Date.now() });
    await this.publishRaw(this.cmdTopic, payload);
    return payload;
  }

  async publishRaw(topic: string, payload: Buffer): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  runCommand(spec: RunSpecInput, overrides: { runId?: string; deadlineAt?: number } = {}): Command & { kind: 'run' } {
    return {
      kind: 'run',
      runId: overrides.runId ?? newId(),
      jobId: newId(),
      deadlineAt: overrides.deadlineAt ?? Date.now() + 3_600_000,
      spec: runSpecSchema.parse(spec),
    };
  }

  /** Everything stored for the run so far, stdout and stderr in seq order, and whether there is a gap. */
  output(runId: string, stream?: string): { bytes: Buffer; contiguous: boolean } {
    const run = this.run(runId);
    const parts: Buffer[] = [];
    let seq = 0;
    for (; run.chunks.has(seq); seq += 1) {
      const chunk = run.chunks.get(seq);
      if (chunk !== undefined && (stream === undefined || chunk.stream === stream)) parts.push(chunk.data);
    }
    return { bytes: Buffer.concat(parts), contiguous: seq === run.chunks.size };
  }

  /** Complete: exited stored, every chunk before it stored, and the whole run acknowledged. */
  complete(runId: string): boolean {
    const run = this.runs.get(runId);
    return run?.exited !== undefined && run.acked >= run.exited.seq;
  }

  /** Drops what was received but not acknowledged: a master that crashed before committing. */
  forgetUnacked(): void {
    for (const run of this.runs.values()) {
      for (const seq of run.chunks.keys()) if (seq > run.acked) run.chunks.delete(seq);
      if (run.exited !== undefined && run.acked < run.exited.seq) run.exited = undefined;
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.ackTimer);
    await this.client.endAsync(true);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const opened = openMessage(this.topics, topic, payload, {
      keyFor: (nodeId, keyId) => (nodeId === this.nodeId && keyId === this.key.keyId ? this.key.key : undefined),
    });
    if (opened.channel === 'state') {
      this.states.push(opened.message);
      return;
    }
    if (opened.channel !== 'evt') return;
    const event = opened.message;
    switch (event.kind) {
      case 'output': {
        const run = this.run(event.runId);
        if (run.chunks.has(event.seq) || event.seq <= run.acked) run.duplicates += 1;
        else run.chunks.set(event.seq, { stream: event.stream, data: Buffer.from(event.data) });
        this.scheduleAck(event.runId);
        return;
      }
      case 'exited':
        this.run(event.runId).exited = event;
        this.events.push({ kind: event.kind, runId: event.runId });
        this.scheduleAck(event.runId);
        return;
      case 'rejected':
        this.events.push({ kind: event.kind, runId: event.runId, code: event.code });
        return;
      case 'accepted':
        this.events.push({ kind: event.kind, runId: event.runId });
        return;
      case 'started':
        this.events.push({ kind: event.kind, runId: event.runId, pid: event.pid });
        return;
      case 'pong':
        this.events.push({ kind: event.kind });
        return;
    }
  }

  private scheduleAck(runId: string): void {
    this.pendingAcks.add(runId);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = undefined;
      if (this.acking) this.flushAcks();
    }, 20);
  }

  flushAcks(): void {
    const acks: { runId: string; seq: number }[] = [];
    for (const runId of this.pendingAcks) {
      const run = this.run(runId);
      let seq = run.acked;
      while (run.chunks.has(seq + 1)) seq += 1;
      if (run.exited !== undefined && seq === run.exited.seq - 1) seq = run.exited.seq;
      // Acks again even without progress: a re-sent chunk means the last ack was lost.
      run.acked = seq;
      if (seq >= 0) acks.push({ runId, seq });
    }
    this.pendingAcks.clear();
    if (acks.length === 0) return;
    this.send({ kind: 'ack', runs: acks }).catch(() => {
      // Lost with the broker: the agent re-sends after its ack timeout, and that is acked again.
      this.lostAcks += 1;
    });
  }
}

export async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function newNodeKey(): SealingKey {
  return { keyId: 1, key: randomBytes(32) };
}
