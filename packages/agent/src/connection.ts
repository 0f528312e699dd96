import { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from './backoff.ts';
import { brokerProblem } from './broker-problem.ts';
import { StateMachine } from './state-machine.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

const transitions: Record<ConnectionState, readonly ConnectionState[]> = {
  idle: ['connecting', 'closed'],
  connecting: ['connected', 'waiting', 'closed'],
  connected: ['waiting', 'closed'],
  waiting: ['connecting', 'closed'],
  closed: [],
};

const STOP_PUBLISH_TIMEOUT_MS = 2000;

/**
 * Refusals of the node's credentials in a row before the agent stops: one could be the broker
 * catching up with an enrollment; three, with backoff between them, is a revoked node, which
 * would otherwise knock on the broker's door for ever.
 */
export const REFUSALS_BEFORE_GIVING_UP = 3;

export interface Will {
  topic: string;
  payload: Buffer;
}

export interface ConnectionOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** The one topic the agent subscribes to (its own cmd topic), QoS 1. */
  subscribeTopic: string;
  keepaliveSec?: number;
  connectTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number; random?: () => number };
  logger: Logger;
  /** Called before every attempt: the will must carry that connection's sequence. */
  willFor: () => Will;
  onConnected: () => void;
  onDisconnected: () => void;
  onMessage: (topic: string, payload: Buffer) => void;
  /** The broker refused the credentials {@link REFUSALS_BEFORE_GIVING_UP} times in a row: no more attempts. */
  onGiveUp: (reason: string) => void;
}

/**
 * The agent's single MQTT connection: MQTT 3.1.1, client id = node id, persistent session
 * (clean: false, so commands sent while it was away are queued by the broker), QoS 1.
 *
 * mqtt.js reconnects at a fixed period and keeps the will it was built with, so each attempt
 * here is a fresh client with reconnectPeriod 0: the wait before it is exponential backoff
 * with full jitter, and its will is sealed for that attempt's connection sequence.
 */
export class Connection {
  private readonly machine = new StateMachine<ConnectionState>('MQTT connection', 'idle', transitions);
  private readonly backoff: Backoff;
  private client: MqttClient | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private refusals = 0;
  /** TLS problems already explained: the explanation is logged once, the retries at debug. */
  private readonly explained = new Set<string>();

  constructor(private readonly options: ConnectionOptions) {
    // The first retry after a broker restart is spread over 4 s: 10,000 agents come back at
    // about 2,500 a second rather than all at once, and the window doubles while it fails.
    this.backoff = new Backoff(options.backoff ?? { initialMs: 4000, maxMs: 60_000 });
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get connected(): boolean {
    return this.machine.state === 'connected';
  }

  private get closed(): boolean {
    return this.machine.state === 'closed';
  }

  start(): void {
    this.attempt();
  }

  /** QoS 1 publish on the current connection; rejects if there is none or it drops first. */
  publish(topic: string, payload: Buffer, retain = false): Promise<void> {
    const client = this.client;
    if (client === undefined || !this.connected) return Promise.reject(new Error('not connected to the broker'));
    return new Promise((resolve, reject) => {
      // mqtt.js 5 calls back with null, not undefined, on PUBACK.
      client.publish(topic, payload, { qos: 1, retain }, (err) => (err == null ? resolve() : reject(err)));
    });
  }

  /** Ends the connection; `last` (the offline state) is published first if connected. */
  async stop(last?: Will): Promise<void> {
    if (this.machine.state === 'closed') return;
    const wasConnected = this.connected;
    if (wasConnected && last !== undefined) {
      // A broker that stopped answering must not hold up a shutdown: the will covers it then.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no PUBACK in time')), STOP_PUBLISH_TIMEOUT_MS);
      });
      await Promise.race([this.publish(last.topic, last.payload, true), timeout])
        .catch((err: unknown) => this.options.logger.warn({ err }, 'could not publish the offline state'))
        .finally(() => clearTimeout(timer));
    }
    // Given up on meanwhile (the broker refused the node again): closed already.
    if (!this.closed) this.machine.to('closed');
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.endAsync(true);
  }

  private attempt(): void {
    if (this.machine.state === 'closed') return;
    this.machine.to('connecting');
    const { options } = this;
    const will = options.willFor();
    const clientOptions: IClientOptions = {
      protocolVersion: 4,
      // mqtt-packet otherwise pre-builds a Buffer for each of the 65,536 two-byte numbers on the
      // first packet and keeps them: ~9 MiB of an idle agent's RSS to save a 2-byte allocation
      // per packet id.
      writeCache: false,
      clientId: options.clientId,
      clean: false,
      keepalive: options.keepaliveSec ?? 30,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      will: { topic: will.topic, payload: will.payload, qos: 1, retain: true },
      ...(options.username === undefined ? {} : { username: options.username, password: options.password }),
      ...options.tls,
    };
    const client = mqtt.connect(options.url, clientOptions);
    this.client = client;
    let lost = false;
    const onLost = (why: string, err?: Error): void => {
      if (lost || this.client !== client) return;
      lost = true;
      this.client = undefined;
      const wasConnected = this.connected;
      client.end(true);
      if (wasConnected) options.onDisconnected();
      const problem = brokerProblem(err);
      this.refusals = problem.kind === 'refused' ? this.refusals + 1 : 0;
      if (problem.kind === 'refused' && this.refusals >= REFUSALS_BEFORE_GIVING_UP) {
        if (this.machine.state !== 'closed') this.machine.to('closed');
        options.logger.error({ url: options.url }, `${problem.message} ${this.refusals} times in a row: giving up`);
        options.onGiveUp(`${problem.message} ${this.refusals} times in a row`);
        return;
      }
      if (this.machine.state !== 'closed') this.machine.to('waiting');
      const delayMs = this.backoff.nextDelayMs();
      if (problem.kind === 'tls' && !this.explained.has(problem.message)) {
        this.explained.add(problem.message);
        options.logger.error({ url: options.url, delayMs }, `cannot connect to the broker: ${problem.message}`);
      } else {
        options.logger[problem.kind === 'tls' ? 'debug' : 'warn'](
          { err, why, delayMs },
          problem.kind === 'refused'
            ? `${problem.message}; retrying`
            : wasConnected
              ? 'lost the broker; reconnecting'
              : 'cannot reach the broker; retrying',
        );
      }
      this.retryTimer = setTimeout(() => this.attempt(), delayMs);
    };
    client.on('message', (topic, payload) => options.onMessage(topic, payload));
    client.on('error', (err) => onLost('error', err));
    client.on('close', () => onLost('closed'));
    client.on('connect', () => {
      // Live output is many small publishes: Nagle's algorithm would hold one back while an
      // earlier one waits for the broker's (delayed) TCP ACK.
      if (client.stream instanceof Socket) client.stream.setNoDelay(true);
      client.subscribe(options.subscribeTopic, { qos: 1 }, (err, granted) => {
        if (this.client !== client) return;
        const grant = granted?.[0]?.qos;
        if (err !== null && err !== undefined) {
          onLost('subscribe failed', err);
          return;
        }
        if (grant !== 1 && grant !== 0) {
          onLost(`the broker refused the subscription to ${options.subscribeTopic} (granted ${String(grant)})`);
          return;
        }
        this.machine.to('connected');
        this.backoff.reset();
        this.refusals = 0;
        options.logger.info({ url: options.url }, 'connected to the broker');
        options.onConnected();
      });
    });
  }
}
