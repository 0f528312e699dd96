/**
 * What the ingest scenario (ingest.ts) shares with its two child processes, the simulated
 * agents (ingest-agents.ts) and the raw ceiling's clients (ingest-ceiling.ts): the printed
 * load, the MQTT connect, and the messages they exchange over the IPC channel.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { z } from 'zod';

export const LINE_BYTES = 64;

/** `bytes` of 64-byte text lines. */
export function textLines(bytes: number) {
  const line = `${'edgestelle ingest benchmark line '.padEnd(LINE_BYTES - 1, '.')}\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / LINE_BYTES)).slice(0, bytes), 'latin1');
}

export function connect(url: string, clientId: string, username?: string, password?: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, {
    protocolVersion: 4,
    clientId,
    reconnectPeriod: 0,
    clean: true,
    ...(username === undefined ? {} : { username, password }),
  });
}

/** Both children say this once their modules are loaded. */
export const childReadySchema = z.object({ type: z.literal('ready') });

const stopSchema = z.object({ type: z.literal('stop') });

/** One enrolled node, as the master's enrollment answered it. */
const agentCredentialsSchema = z.object({
  index: z.number().int().nonnegative(),
  nodeId: z.string(),
  keyId: z.number().int(),
  nodeKeyBase64: z.string(),
  mqttUrl: z.string(),
  mqttPassword: z.string(),
});
export type AgentCredentials = z.infer<typeof agentCredentialsSchema>;

export const agentsRequestSchema = z.discriminatedUnion('type', [
  /** Connect every agent, subscribe to its commands, publish its state; answered by `online`. */
  z.object({
    type: z.literal('start'),
    topicPrefix: z.string(),
    chunkBytes: z.number().int().positive(),
    window: z.number().int().positive(),
    durationMs: z.number().positive(),
    agents: z.array(agentCredentialsSchema),
  }),
  /** Answered by `done` once every agent's run is acknowledged to its end. */
  z.object({ type: z.literal('finish') }),
  stopSchema,
]);
export type AgentsRequest = z.infer<typeof agentsRequestSchema>;
export const agentsOnlineSchema = z.object({ type: z.literal('online') });
export const agentsDoneSchema = z.object({
  type: z.literal('done'),
  /** When the first agent started printing (Date.now(); parent and child share the clock). */
  firstChunkAt: z.number(),
});

export const ceilingRequestSchema = z.discriminatedUnion('type', [
  /** Publish for `durationMs` through the broker, count what the subscriber gets; answered by `ceiling`. */
  z.object({
    type: z.literal('measure'),
    brokerUrl: z.string(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Client ids and topics start with it. */
    topicPrefix: z.string(),
    publishers: z.number().int().positive(),
    messageBytes: z.number().int().positive(),
    durationMs: z.number().positive(),
  }),
  stopSchema,
]);
export type CeilingRequest = z.infer<typeof ceilingRequestSchema>;
export const ceilingResultSchema = z.object({
  type: z.literal('ceiling'),
  sentBytes: z.number(),
  receivedBytes: z.number(),
  startedAt: z.number(),
  lastReceivedAt: z.number(),
});
