import { execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobDtoSchema, nodeDtoSchema, runDtoSchema, sessionDtoSchema, type RunDto } from '@edgestelle/protocol';
import { freePort, freshPostgresDatabase, tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '@edgestelle/fleet-fixture';
import { demoAgentEnvironment } from './demo.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const PASSWORD = 'demo-test-password';

interface DemoMasterProcess {
  url: string;
  stderr(): string;
  /** Runs a shell command on the demo node as the admin; its whole output once it ended. */
  run(command: string): Promise<{ state: string; output: string }>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** `edgestelle master --demo` as the quick start runs it, once its demo node is online. */
async function startDemoMaster(dataDir: string, env: NodeJS.ProcessEnv): Promise<DemoMasterProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const master = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=source',
      MAIN,
      'master',
      '--demo',
      '--data-dir',
      dataDir,
      '--http-port',
      `${port}`,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  master.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  master.stdout.resume();
  const exited = new Promise<number | null>((resolve) => master.once('exit', (code) => resolve(code)));
  const stop = async (): Promise<number | null> => {
    master.kill('SIGTERM');
    return exited;
  };
  try {
    // Printed once the master listens and its demo node is enrolled.
    await waitFor('the banner', () => stderr.includes('demo agent'), { timeoutMs: 60_000 });
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const session = sessionDtoSchema.parse(await login.json());
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const headers = { cookie, 'x-csrf-token': session.csrfToken ?? '', 'content-type': 'application/json' };
    await waitFor(
      'the demo node online',
      async () => nodeDtoSchema.parse(await (await fetch(`${url}/api/v1/nodes/demo`, { headers })).json()).online,
      { timeoutMs: 60_000 },
    );
    const run = async (command: string) => {
      const job = jobDtoSchema.parse(
        await (
          await fetch(`${url}/api/v1/jobs`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ target: { nodeIds: ['demo'] }, spec: { command, timeoutMs: 30_000 } }),
          })
        ).json(),
      );
      const runs = z.object({ items: z.array(runDtoSchema) });
      let done: RunDto | undefined;
      await waitFor(
        'the run',
        async () => {
          [done] = runs.parse(await (await fetch(`${url}/api/v1/jobs/${job.jobId}/runs`, { headers })).json()).items;
          return done?.complete === true;
        },
        { timeoutMs: 30_000 },
      );
      if (done === undefined) throw new Error('no run');
      const output = await (await fetch(`${url}/api/v1/runs/${done.runId}/output/raw`, { headers })).text();
      return { state: done.state, output };
    };
    return { url, stderr: () => stderr, run, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

describe('edgestelle master --demo (the quick start)', () => {
  it('starts a master and a local agent process; a command runs on it; both stop on SIGTERM', async () => {
    await using dir = await tempDir();
    const master = await startDemoMaster(join(dir.path, 'data'), {
      ...process.env,
      EDGESTELLE_ADMIN_PASSWORD: PASSWORD,
      EDGESTELLE_LOG_LEVEL: 'warn',
    });
    try {
      expect(master.stderr()).toContain(`console and API   ${master.url}/`);
      expect(await master.run('uname -s')).toEqual({ state: 'succeeded', output: 'Linux\n' });
    } finally {
      expect(await master.stop()).toBe(0);
    }
    const stderr = master.stderr();
    expect(stderr).toContain('shutting down');
    // The agent process stopped with the master.
    const agentPid = Number(/demo agent .*\(pid (\d+)\)/.exec(stderr)?.[1]);
    expect(agentPid).toBeGreaterThan(0);
    expect(() => process.kill(agentPid, 0)).toThrow();
  }, 120_000);

  it('brings the demo node online when the embedded broker also has a TLS listener', async () => {
    await using dir = await tempDir();
    const certs = join(dir.path, 'certs');
    execFileSync(
      'bash',
      [fileURLToPath(new URL('../../../deploy/gen_certs.sh', import.meta.url)), '--out', certs, '--ip', '127.0.0.1'],
      { stdio: 'ignore' },
    );
    const master = await startDemoMaster(join(dir.path, 'data'), {
      ...process.env,
      EDGESTELLE_ADMIN_PASSWORD: PASSWORD,
      EDGESTELLE_LOG_LEVEL: 'warn',
      EDGESTELLE_MQTT_TLS_PORT: String(await freePort()),
      EDGESTELLE_MQTT_TLS_CERT_FILE: join(certs, 'broker.crt'),
      EDGESTELLE_MQTT_TLS_KEY_FILE: join(certs, 'broker.key'),
    });
    try {
      expect(master.stderr()).toMatch(/MQTT broker {7}embedded, mqtts:\/\/127\.0\.0\.1:\d+ \(TLS on \d+\)/);
      expect(await master.run('echo over the plain loopback listener')).toEqual({
        state: 'succeeded',
        output: 'over the plain loopback listener\n',
      });
    } finally {
      expect(await master.stop()).toBe(0);
    }
  }, 120_000);

  it('gives the demo agent none of the master’s secrets: a run that dumps its parent’s and its own environment finds none', async () => {
    await using dir = await tempDir();
    await using db = await freshPostgresDatabase();
    // What an operator may have exported where the master starts: every one a secret.
    const databaseUrl = new URL(db.url);
    databaseUrl.password = `db-secret-${process.pid}`;
    const apiToken = `est_${'k'.repeat(40)}`;
    const dataDir = join(dir.path, 'data');
    const env = {
      ...process.env,
      EDGESTELLE_ADMIN_PASSWORD: PASSWORD,
      EDGESTELLE_DATABASE_URL: databaseUrl.toString(),
      EDGESTELLE_TOKEN: apiToken,
      EDGESTELLE_LOG_LEVEL: 'warn',
    };
    const master = await startDemoMaster(dataDir, env);
    let dump: { state: string; output: string };
    try {
      dump = await master.run(`echo '-- agent'; tr '\\0' '\\n' < /proc/$PPID/environ; echo '-- run'; env`);
    } finally {
      expect(await master.stop()).toBe(0);
    }
    expect(dump.state).toBe('succeeded');
    const [agentEnv = '', runEnv = ''] = dump.output.split('-- run\n');
    // The dump read something: both parts have a PATH.
    expect(agentEnv).toMatch(/^PATH=/m);
    expect(runEnv).toMatch(/^PATH=/m);
    const masterKey = await readFile(join(dataDir, 'master.key'));
    const secrets = {
      'admin password': PASSWORD,
      'database password': databaseUrl.password,
      'database URL': databaseUrl.toString(),
      'API token': apiToken,
      'master key (hex)': masterKey.toString('hex'),
      'master key (base64)': masterKey.toString('base64'),
      'master broker password': (await readFile(join(dataDir, 'mqtt-master-password'), 'utf8')).trim(),
    };
    for (const [what, secret] of Object.entries(secrets)) expect(dump.output, what).not.toContain(secret);
    expect(agentEnv).not.toMatch(/^EDGESTELLE_(?!LOG_LEVEL=)/m);

    // The next start of the same quick start enrolls its demo node again (a token made for it).
    const again = await startDemoMaster(dataDir, env);
    try {
      expect(await again.run('echo again')).toEqual({ state: 'succeeded', output: 'again\n' });
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 180_000);
});

describe('demoAgentEnvironment', () => {
  it('keeps the allow-list and the locale, and drops everything else', () => {
    expect(
      demoAgentEnvironment({
        PATH: '/usr/bin',
        HOME: '/home/me',
        LANG: 'de_DE.UTF-8',
        LC_TIME: 'C',
        TZ: 'Europe/Berlin',
        EDGESTELLE_ADMIN_PASSWORD: 'x',
        EDGESTELLE_DATABASE_URL: 'postgres://u:p@h/db',
        PGPASSWORD: 'p',
        AWS_SECRET_ACCESS_KEY: 'k',
        NODE_OPTIONS: '--require /tmp/x.js',
      }),
    ).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/me',
      LANG: 'de_DE.UTF-8',
      LC_TIME: 'C',
      TZ: 'Europe/Berlin',
      EDGESTELLE_LOG_LEVEL: 'info',
    });
  });
});
