import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freshPostgresDatabase, startAedes, startMosquitto, tempDir } from './index.ts';

async function roundTrip(url: string): Promise<string> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    await client.subscribeAsync('t/x', { qos: 1 });
    const received = new Promise<string>((resolve) =>
      client.once('message', (_t, payload) => resolve(payload.toString())),
    );
    await client.publishAsync('t/x', 'hello', { qos: 1 });
    return await received;
  } finally {
    await client.endAsync();
  }
}

describe('testkit', () => {
  it('gives a temp dir that is gone after dispose', async () => {
    let path: string;
    {
      await using dir = await tempDir();
      path = dir.path;
      await writeFile(join(path, 'f'), 'x');
      expect(existsSync(join(path, 'f'))).toBe(true);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('starts an Aedes broker on a free port that carries MQTT 3.1.1', async () => {
    await using broker = await startAedes();
    expect(broker.port).toBeGreaterThan(0);
    expect(await roundTrip(broker.url)).toBe('hello');
  });

  it('starts a private Mosquitto, kills it and brings it back on the same port', async () => {
    await using broker = await startMosquitto();
    expect(broker.port).not.toBe(1883);
    expect(await roundTrip(broker.url)).toBe('hello');
    const firstPid = broker.pid();
    await broker.kill();
    await expect(
      mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 500 }),
    ).rejects.toThrow();
    await broker.start();
    expect(broker.pid()).not.toBe(firstPid);
    expect(await roundTrip(broker.url)).toBe('hello');
  });

  it('reports a broken Mosquitto config with the broker log', async () => {
    await expect(startMosquitto({ config: 'no_such_option yes' })).rejects.toThrow(
      /no_such_option|Unknown configuration/,
    );
  });

  it('creates a fresh PostgreSQL database and drops it on dispose', async () => {
    let name: string;
    {
      await using db = await freshPostgresDatabase();
      name = db.name;
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      expect(rows[0]?.db).toBe(name);
      await client.end();
    }
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    await admin.end();
    expect(rowCount).toBe(0);
  });
});
