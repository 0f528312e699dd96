import { createServer, Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
const N = 100;
for (const [serverNoDelay, clientNoDelay, agentNoDelay] of [[false, true, true], [true, true, true], [false, false, false]]) {
  const broker = await Aedes.createBroker();
  const server = createServer({ noDelay: serverNoDelay }, broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = z(server.address());
  const master = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clean: false, clientId: 'm' });
  if (clientNoDelay && master.stream instanceof Socket) master.stream.setNoDelay(true);
  await master.subscribeAsync('evt/#', { qos: 1 });
  let stopping = false;
  const agents = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const agent = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `agent${i}`, clean: false });
    if (agentNoDelay && agent.stream instanceof Socket) agent.stream.setNoDelay(true);
    await agent.subscribeAsync(`cmd/${i}`, { qos: 1 });
    agent.on('message', () => { if (!stopping) for (let k = 0; k < 4; k++) agent.publish(`evt/${i}`, Buffer.alloc(200), { qos: 1 }); });
    return agent;
  }));
  const t = performance.now();
  for (let i = 0; i < N; i++) await master.publishAsync(`cmd/${i}`, Buffer.alloc(300), { qos: 1 });
  console.log(`broker ${serverNoDelay} master ${clientNoDelay} agents ${agentNoDelay}: ${((performance.now() - t) / N).toFixed(2)} ms per sequential command`);
  stopping = true;
  await new Promise((r) => setTimeout(r, 200));
  for (const a of agents) await a.endAsync(true);
  await master.endAsync(true); server.close(); await new Promise<void>((r) => broker.close(() => r()));
}
function z(a: unknown): { port: number } { return a as { port: number }; }
