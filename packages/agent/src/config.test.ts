import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

const KEY = Buffer.alloc(32, 7).toString('base64');
const base = { EDGESTELLE_MQTT_URL: 'mqtt://127.0.0.1:1884', EDGESTELLE_NODE_KEY: KEY, EDGESTELLE_STATE_DIR: '/tmp/x' };

function problems(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error('expected the config to be refused');
}

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = loadConfig({ env: base });
    expect(config).toMatchObject({
      mqttUrl: 'mqtt://127.0.0.1:1884',
      keyId: 0,
      topicPrefix: 'edgestelle',
      maxConcurrentRuns: 4,
      spoolMaxBytes: 256 * 1024 * 1024,
      heartbeatIntervalMs: 60_000,
      tags: {},
    });
    expect(config.nodeKey.byteLength).toBe(32);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reports every bad value at once, each by the name the operator used', () => {
    const message = problems(() =>
      loadConfig({
        env: {
          ...base,
          EDGESTELLE_MQTT_URL: 'http://broker',
          EDGESTELLE_MAX_CONCURRENT_RUNS: 'lots',
          EDGESTELLE_TAGS: 'site=berlin,oops',
          EDGESTELLE_NODE_KEY: 'c2hvcnQ=',
          EDGESTELLE_HEARTBEAT_INTERVAL_MS: '5',
          EDGESTELLE_NODE_ID: 'Not_Valid',
          EDGESTELLE_LOG_LEVEL: 'chatty',
        },
        envFileText: 'EDGESTELLE_SPOOL_MAX_BYTES=1\nEDGESTELLE_NO_SUCH_THING=1\n',
      }),
    );
    for (const name of [
      'EDGESTELLE_MQTT_URL',
      'EDGESTELLE_MAX_CONCURRENT_RUNS',
      'EDGESTELLE_TAGS',
      'EDGESTELLE_NODE_KEY',
      'EDGESTELLE_HEARTBEAT_INTERVAL_MS',
      'EDGESTELLE_NODE_ID',
      'EDGESTELLE_LOG_LEVEL',
      'EDGESTELLE_SPOOL_MAX_BYTES',
      'EDGESTELLE_NO_SUCH_THING (in --env-file): not an agent setting',
    ]) {
      expect(message).toContain(name);
    }
  });

  it('names mutually exclusive and paired settings, and points to enroll when there is no key', () => {
    expect(problems(() => loadConfig({ env: { ...base, EDGESTELLE_NODE_KEY_FILE: '/k' } }))).toMatch(
      /give only one of EDGESTELLE_NODE_KEY and EDGESTELLE_NODE_KEY_FILE/,
    );
    expect(problems(() => loadConfig({ env: { ...base, EDGESTELLE_MQTT_CERT_FILE: '/c' } }))).toMatch(
      /give both EDGESTELLE_MQTT_CERT_FILE and EDGESTELLE_MQTT_KEY_FILE/,
    );
    const { EDGESTELLE_NODE_KEY: _key, ...noKey } = base;
    expect(problems(() => loadConfig({ env: noKey }))).toMatch(
      /EDGESTELLE_NODE_KEY: is required.*edgestelle agent enroll/,
    );
  });

  it('takes flags over the environment over the env file over enrollment, and ignores other programs’ variables', () => {
    const config = loadConfig({
      flags: { maxConcurrentRuns: '9' },
      env: {
        ...base,
        EDGESTELLE_MAX_CONCURRENT_RUNS: '8',
        EDGESTELLE_TAGS: 'a=1',
        EDGESTELLE_API_TOKEN: 'for the cli',
      },
      envFileText:
        'EDGESTELLE_MAX_CONCURRENT_RUNS=7\nEDGESTELLE_SPOOL_MAX_BYTES=2097152\nEDGESTELLE_TOPIC_PREFIX=from-file\n',
      credentials: {
        nodeId: 'enrolled-node',
        keyId: 3,
        nodeKey: Buffer.alloc(32, 1).toString('base64'),
        topicPrefix: 'from-enroll',
        mqtt: { url: 'mqtts://enrolled:8883', username: 'enrolled-node', password: 'pw' },
        tags: { site: 'x,y=z' },
      },
    });
    expect(config).toMatchObject({
      maxConcurrentRuns: 9,
      spoolMaxBytes: 2 * 1024 * 1024,
      topicPrefix: 'from-file',
      mqttUrl: 'mqtt://127.0.0.1:1884',
      mqttUsername: 'enrolled-node',
      nodeId: 'enrolled-node',
      keyId: 3,
      tags: { a: '1' },
    });
    expect(config.nodeKey.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('keeps enrolled tags as they are and reads key and TLS files', async () => {
    await using dir = await tempDir();
    const keyFile = join(dir.path, 'node.key');
    writeFileSync(keyFile, `${KEY}\n`);
    writeFileSync(join(dir.path, 'ca.pem'), 'CA');
    const config = loadConfig({
      env: {
        EDGESTELLE_MQTT_URL: 'mqtts://b:8883',
        EDGESTELLE_NODE_KEY_FILE: keyFile,
        EDGESTELLE_STATE_DIR: dir.path,
        EDGESTELLE_MQTT_CA_FILE: join(dir.path, 'ca.pem'),
      },
    });
    expect(config.nodeKey.toString('base64')).toBe(KEY);
    expect(config.tls.ca?.toString()).toBe('CA');
    expect(
      problems(() => loadConfig({ env: { ...base, EDGESTELLE_MQTT_CA_FILE: join(dir.path, 'missing.pem') } })),
    ).toMatch(/EDGESTELLE_MQTT_CA_FILE: cannot read .*ENOENT/);
  });
});
