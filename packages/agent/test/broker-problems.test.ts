/**
 * What the agent does when the broker will not have it, against a real Mosquitto: a broker
 * certificate it cannot verify is explained once, naming the setting that fixes it; credentials
 * the broker keeps refusing (a revoked node) end the agent instead of retrying for ever.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startMosquitto, tempDir } from '@edgestelle/testkit';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { REFUSALS_BEFORE_GIVING_UP } from '../src/connection.ts';
import { startTestAgent, testConfig } from './agent-env.ts';
import { newNodeKey, until } from './test-master.ts';

const genCerts = fileURLToPath(new URL('../../../deploy/gen_certs.sh', import.meta.url));

/** The agent's log lines, parsed, as a test reads them. */
function capturingLogger(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')) {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed === 'object' && parsed !== null && 'level' in parsed && 'msg' in parsed) {
          lines.push({ level: Number(parsed.level), msg: String(parsed.msg) });
        }
      }
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('broker problems', () => {
  it('explains an untrusted broker certificate once, naming EDGESTELLE_MQTT_CA_FILE, and keeps retrying quietly', async () => {
    await using dir = await tempDir();
    const certs = join(dir.path, 'certs');
    execFileSync('bash', [genCerts, '--out', certs, '--ip', '127.0.0.1'], { stdio: 'ignore' });
    await using broker = await startMosquitto({
      listenerConfig: (port) =>
        [
          `listener ${port} 127.0.0.1`,
          `certfile ${join(certs, 'broker.crt')}`,
          `keyfile ${join(certs, 'broker.key')}`,
          ...(process.getuid?.() === 0 ? ['user root'] : []),
        ].join('\n'),
    });
    const { logger, lines } = capturingLogger();
    await using agent = await startTestAgent(
      testConfig(`mqtts://127.0.0.1:${broker.port}`, join(dir.path, 'state'), newNodeKey(), 'node-no-ca'),
      { logger, backoff: { initialMs: 20, maxMs: 40 } },
    );
    const retries = () => lines.filter((line) => line.level === 20 && line.msg === 'cannot reach the broker; retrying');
    await until(() => retries().length >= 3, 'three quiet retries after the first');
    const errors = lines.filter((line) => line.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(
      /^cannot connect to the broker: the broker's TLS certificate is not signed by a CA this agent trusts \(\w+\): set EDGESTELLE_MQTT_CA_FILE \(--mqtt-ca-file\)/,
    );
    expect(agent.stats().connected).toBe(false);
  });

  it('gives up when the broker refuses the credentials again and again, as for a revoked node', async () => {
    await using dir = await tempDir();
    await using broker = await startMosquitto({ config: ['allow_anonymous false', 'persistence false'].join('\n') });
    const { logger, lines } = capturingLogger();
    await using agent = await startTestAgent(
      testConfig(`mqtt://127.0.0.1:${broker.port}`, join(dir.path, 'state'), newNodeKey(), 'node-revoked', {
        mqttUsername: 'node-revoked',
        mqttPassword: 'no-longer-valid',
      }),
      { logger, backoff: { initialMs: 20, maxMs: 40 } },
    );
    const error = await agent.gaveUp;
    expect(error.code).toBe('broker_refused');
    expect(error.message).toContain(
      `refused this node's credentials (not authorized) ${REFUSALS_BEFORE_GIVING_UP} times in a row`,
    );
    expect(error.message).toContain('edgestelle join-token create --node node-revoked');
    const attempts = lines.filter((line) => line.msg.includes("refused this node's credentials"));
    // Two retried, the third given up on: no fourth attempt.
    expect(attempts).toHaveLength(REFUSALS_BEFORE_GIVING_UP);
  });
});
