import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { startStack } from './support/stack.ts';

describe('embedded broker TLS listener', () => {
  it('tells enrolling agents the mqtts:// URL and carries a job over TLS', async () => {
    await using certs = await tempDir();
    const cert = join(certs.path, 'broker.crt');
    const key = join(certs.path, 'broker.key');
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
        ...['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1'],
      ],
      { stdio: 'ignore' },
    );
    await using stack = await startStack(
      'sqlite',
      'embedded',
      {},
      { mqttTlsPort: '0', mqttTlsCertFile: cert, mqttTlsKeyFile: key },
    );
    const tlsPort = stack.master.embeddedBroker?.tlsPort;
    expect(tlsPort).toBeGreaterThan(0);
    expect(stack.master.agentMqttUrl).toBe(`mqtts://127.0.0.1:${tlsPort}`);
    // The self-signed certificate is its own CA.
    const agent = await stack.agent('edge-tls', {}, { mqttCaFile: cert });
    const job = await stack.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo over tls', timeoutMs: 30_000 },
    });
    const [run] = await stack.runs(job.jobId);
    const done = await stack.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    expect(await (await stack.request('GET', `/api/v1/runs/${done.runId}/output/raw`)).text()).toBe('over tls\n');
  });
});
