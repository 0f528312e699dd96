import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { openRaw } from './support/raw-mqtt.ts';
import { startMaster, waitFor } from '@edgestelle/fleet-fixture';

describe('embedded broker TLS listener', () => {
  it('tells enrolling agents the mqtts:// URL, carries a job over TLS, and closes a stalled handshake at the deadline', async () => {
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
    const deadlineMs = 2000;
    await using stack = await startMaster({
      deps: { mqttConnectDeadlineMs: deadlineMs },
      config: { mqttTlsPort: '0', mqttTlsCertFile: cert, mqttTlsKeyFile: key },
    });
    const tlsPort = stack.master.embeddedBroker?.tlsPort;
    expect(tlsPort).toBeGreaterThan(0);
    expect(stack.master.agentMqttUrl).toBe(`mqtts://127.0.0.1:${tlsPort}`);
    // The self-signed certificate is its own CA.
    const agent = await stack.startAgent('edge-tls', { settings: { mqttCaFile: cert } });
    const job = await stack.admin.createJob({
      target: { nodeIds: [agent.nodeId] },
      spec: { command: 'echo over tls', timeoutMs: 30_000 },
    });
    const [run] = await stack.admin.runs(job.jobId);
    const done = await stack.admin.waitRun(run?.runId ?? '', (r) => r.complete);
    expect(done.state).toBe('succeeded');
    expect(await (await stack.admin.request('GET', `/api/v1/runs/${done.runId}/output/raw`)).text()).toBe('over tls\n');

    // A socket that never finishes its handshake waits for its CONNACK like any other: counted
    // from its accept, closed at the deadline.
    const broker = stack.master.embeddedBroker;
    const stalled = await openRaw(tlsPort ?? 0);
    const opened = performance.now();
    await waitFor('the stalled handshake counted', () => broker?.unauthenticated.current === 1, { timeoutMs: 5000 });
    await stalled.closed;
    expect(performance.now() - opened).toBeGreaterThanOrEqual(deadlineMs - 100);
    expect(broker?.unauthenticated.timedOut).toBe(1);
    expect(broker?.unauthenticated.current).toBe(0);
  });
});
