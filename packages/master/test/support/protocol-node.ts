import { Topics, commandSchema, enrollResponseSchema, type AgentEvent, type Command } from '@edgestelle/protocol';
import { openMessage, sealMessage } from '@edgestelle/protocol/envelope';
import mqtt, { type MqttClient } from 'mqtt';
import { waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';

export interface ProtocolNode {
  readonly client: MqttClient;
  /** Every command received, in order. */
  readonly commands: Command[];
  /** Seals and publishes an event as the node would. */
  send(event: AgentEvent): Promise<unknown>;
  /** The event sealed as the node would publish it, for feeding a master's ingest directly. */
  seal(event: AgentEvent): { topic: string; payload: Buffer };
}

/**
 * A node speaking the protocol by hand: enrolled through the API, online, and answering only
 * what `onCommand` tells it to. For what a real agent never does on its own (go silent, report
 * an exit twice).
 */
export async function protocolNode(
  stack: InProcessMaster,
  nodeId: string,
  onCommand: (command: Command, node: ProtocolNode) => void = () => undefined,
): Promise<ProtocolNode> {
  const token = await stack.admin.joinToken();
  const response = await fetch(`${stack.master.url}/api/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, nodeId, name: nodeId }),
  });
  const creds = enrollResponseSchema.parse(await response.json());
  const topics = new Topics();
  const key = { keyId: creds.keyId, key: Buffer.from(creds.nodeKey, 'base64') };
  const client = await mqtt.connectAsync(stack.master.brokerUrl, {
    protocolVersion: 4,
    clientId: nodeId,
    username: nodeId,
    password: creds.mqtt.password,
    reconnectPeriod: 0,
  });
  const evt = topics.node(nodeId, 'evt');
  const node: ProtocolNode = {
    client,
    commands: [],
    send: (event) => client.publishAsync(evt, sealMessage(evt, event, key), { qos: 1 }),
    seal: (event) => ({ topic: evt, payload: sealMessage(evt, event, key) }),
  };
  client.on('message', (topic, payload) => {
    const { message } = openMessage(topics, topic, payload, { keyFor: () => key.key });
    const command = commandSchema.parse(message);
    node.commands.push(command);
    onCommand(command, node);
  });
  await client.subscribeAsync(topics.node(nodeId, 'cmd'), { qos: 1 });
  const state = topics.node(nodeId, 'state');
  await client.publishAsync(
    state,
    sealMessage(state, { kind: 'state', online: true, connectionSeq: 1, beat: 0 }, key),
    { qos: 1, retain: true },
  );
  await waitFor('online', async () => (await stack.master.nodes.get(nodeId)).online, { timeoutMs: 10_000 });
  return node;
}
