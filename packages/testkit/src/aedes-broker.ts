import { createServer, type AddressInfo } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';

export interface AedesBroker extends AsyncDisposable {
  readonly broker: Aedes;
  readonly port: number;
  readonly url: string;
}

/**
 * A plain Aedes broker on 127.0.0.1 and a port the OS picks, for tests of MQTT-level code.
 * The master's own locked-down broker is tested through the master.
 */
export async function startAedes(options: AedesOptions = {}): Promise<AedesBroker> {
  const broker = await Aedes.createBroker(options);
  const server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
