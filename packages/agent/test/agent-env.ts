import type { SealingKey } from '@edgestelle/protocol/envelope';
import pino from 'pino';
import { createAgent, type Agent, type AgentDeps } from '../src/agent.ts';
import { loadConfig, type AgentConfig } from '../src/config.ts';

/** Flags as an operator would give them, through the real config schema. */
export function agentFlags(mqttUrl: string, stateDir: string, key: SealingKey, nodeId: string): string[] {
  return [
    '--mqtt-url',
    mqttUrl,
    '--state-dir',
    stateDir,
    '--node-id',
    nodeId,
    '--node-key',
    Buffer.from(key.key).toString('base64'),
    '--key-id',
    String(key.keyId),
    '--log-level',
    process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'warn',
  ];
}

export function testConfig(
  mqttUrl: string,
  stateDir: string,
  key: SealingKey,
  nodeId: string,
  extra: Record<string, string> = {},
): AgentConfig {
  return loadConfig({
    flags: {
      mqttUrl,
      stateDir,
      nodeId,
      nodeKey: Buffer.from(key.key).toString('base64'),
      keyId: String(key.keyId),
      ...extra,
    },
    env: {},
  });
}

/** An in-process agent with short reconnect and ack timers, so tests never wait long. */
export async function startTestAgent(config: AgentConfig, deps: AgentDeps = {}): Promise<Agent & AsyncDisposable> {
  const agent = createAgent(config, {
    logger: pino({ level: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent' }),
    backoff: { initialMs: 50, maxMs: 500 },
    ackTimeoutMs: 1500,
    ...deps,
  });
  await agent.start();
  return Object.assign(agent, { [Symbol.asyncDispose]: () => agent.stop() });
}
