import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, TestMaster, until } from './test-master.ts';

const genCerts = fileURLToPath(new URL('../../../deploy/gen_certs.sh', import.meta.url));

describe('mqtts', () => {
  it('connects with the CA file and a client certificate to a broker that requires one', async () => {
    await using dir = await tempDir();
    const certs = join(dir.path, 'certs');
    const nodeId = 'node-tls';
    execFileSync(
      'bash',
      [genCerts, '--out', certs, '--ip', '127.0.0.1', '--client', nodeId, '--client', 'test-master'],
      {
        stdio: 'ignore',
      },
    );
    await using broker = await startMosquitto({
      listenerConfig: (port) =>
        [
          `listener ${port} 127.0.0.1`,
          `cafile ${join(certs, 'ca.crt')}`,
          `certfile ${join(certs, 'broker.crt')}`,
          `keyfile ${join(certs, 'broker.key')}`,
          'require_certificate true',
          // The certificates sit in a root-only temp dir: keep the broker from dropping to its own user.
          ...(process.getuid?.() === 0 ? ['user root'] : []),
        ].join('\n'),
    });
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const key = newNodeKey();
    const master = await TestMaster.start(url, nodeId, key, {
      ca: readFileSync(join(certs, 'ca.crt')),
      cert: readFileSync(join(certs, 'clients/test-master.crt')),
      key: readFileSync(join(certs, 'clients/test-master.key')),
    });
    await using agent = await startTestAgent(
      testConfig(url, join(dir.path, 'state'), key, nodeId, {
        mqttCaFile: join(certs, 'ca.crt'),
        mqttCertFile: join(certs, `clients/${nodeId}.crt`),
        mqttKeyFile: join(certs, `clients/${nodeId}.key`),
      }),
    );
    await until(() => master.states.some((s) => s.online), 'the agent to come online over TLS');
    const command = master.runCommand({ command: 'echo over tls', timeoutMs: 10_000 });
    await master.send(command);
    await until(() => master.complete(command.runId), 'the run');
    expect(master.output(command.runId).bytes.toString()).toBe('over tls\n');
    expect(agent.stats().connected).toBe(true);
    await master.close();
  });
});
