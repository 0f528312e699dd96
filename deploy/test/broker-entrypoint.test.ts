/**
 * The broker container's entrypoint (deploy/mosquitto/docker-entrypoint.sh) run here with the
 * Debian Mosquitto, the shipped config pointed at a temp folder and certificates from
 * gen_certs.sh: the first start creates the master's user, later starts keep the users, and
 * the Compose healthcheck command passes against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort, tempDir, waitForPort } from '@edgestelle/testkit';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { runCommand } from './run-command.ts';

const DEPLOY = resolve(import.meta.dirname, '..');
const DEBIAN_DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';
const MASTER_USERNAME = 'edgestelle:master';

const healthcheckSchema = z.object({
  services: z.object({
    mosquitto: z.object({ healthcheck: z.object({ test: z.tuple([z.literal('CMD-SHELL'), z.string()]) }) }),
  }),
});

async function stopByPid(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await gone;
}

describe('mosquitto docker-entrypoint.sh', () => {
  it('creates the master user on first start, keeps users on the next, and passes the healthcheck', async () => {
    await using dir = await tempDir('edgestelle-entrypoint-');
    const certs = join(dir.path, 'certs');
    const data = join(dir.path, 'data');
    const gen = await runCommand('bash', [
      join(DEPLOY, 'gen_certs.sh'),
      ...['--out', certs, '--dns', 'mosquitto', '--broker-owner', 'mosquitto:mosquitto'],
    ]);
    expect(gen.code).toBe(0);
    await runCommand('chmod', ['0755', dir.path]);
    await mkdir(data);
    const port = await freePort();
    const config = (await readFile(join(DEPLOY, 'mosquitto/mosquitto.conf'), 'utf8'))
      .replace(/^listener 8883$/m, `listener ${port} 127.0.0.1`)
      .replaceAll('/mosquitto/certs/', `${certs}/`)
      .replaceAll('/mosquitto/data/', `${data}/`)
      .replace('/usr/lib/mosquitto_dynamic_security.so', DEBIAN_DYNSEC_PLUGIN);
    const configPath = join(dir.path, 'mosquitto.conf');
    await writeFile(configPath, config);

    let log = '';
    const start = async (password: string): Promise<ChildProcess> => {
      const child = spawn('sh', [join(DEPLOY, 'mosquitto/docker-entrypoint.sh')], {
        env: {
          PATH: process.env.PATH,
          MOSQUITTO_DATA_DIR: data,
          MOSQUITTO_CONFIG: configPath,
          MQTT_MASTER_USERNAME: MASTER_USERNAME,
          MQTT_MASTER_PASSWORD: password,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
      child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
      const exited = new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`entrypoint exited with ${code}:\n${log}`))),
      );
      await Promise.race([waitForPort(port, 15_000), exited]);
      return child;
    };
    const ca = await readFile(join(certs, 'ca.crt'));
    const master = (password: string) =>
      mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        servername: 'mosquitto',
        ca,
        username: MASTER_USERNAME,
        password,
      });

    let broker = await start('first-password');
    try {
      expect(log).toMatch(/Created .*dynamic-security\.json with the master's user edgestelle:master/);
      const client = await master('first-password');
      await client.endAsync();
      // The Compose healthcheck, pointed at this port and CA.
      const compose = healthcheckSchema.parse(parse(await readFile(join(DEPLOY, 'docker-compose.yml'), 'utf8')));
      const check = compose.services.mosquitto.healthcheck.test[1]
        .replace('-p 8883', `-p ${port}`)
        .replace('/mosquitto/certs/ca.crt', join(certs, 'ca.crt'));
      expect((await runCommand('sh', ['-c', check])).code).toBe(0);
    } finally {
      await stopByPid(broker);
    }

    // A second start with another password in the environment keeps the stored user as it was.
    broker = await start('ignored-second-password');
    try {
      const client = await master('first-password');
      await client.endAsync();
      await expect(master('ignored-second-password')).rejects.toThrow(/Not authorized|Bad username/i);
      const mode = (await runCommand('stat', ['-c', '%a %U', join(data, 'dynamic-security.json')])).stdout.trim();
      expect(mode).toBe('600 mosquitto');
    } finally {
      await stopByPid(broker);
    }
  });
});
