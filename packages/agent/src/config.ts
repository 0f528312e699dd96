import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { DEFAULT_TOPIC_PREFIX, NODE_ID_PATTERN, Topics, tagsSchema, type EnrollResponse } from '@edgestelle/protocol';
import * as z from 'zod';
import { AgentError, AgentErrorCode } from './errors.ts';
import { errnoCode } from './fs-errors.ts';

/**
 * Every setting of `edgestelle agent`, once: its config key, environment name and flag.
 * Precedence, highest first: flag, process environment, `--env-file`, the state dir's
 * `credentials.json` (written by `edgestelle agent enroll`), default.
 */
export const settings = {
  mqttUrl: 'EDGESTELLE_MQTT_URL',
  mqttUsername: 'EDGESTELLE_MQTT_USERNAME',
  mqttPassword: 'EDGESTELLE_MQTT_PASSWORD',
  mqttCaFile: 'EDGESTELLE_MQTT_CA_FILE',
  mqttCertFile: 'EDGESTELLE_MQTT_CERT_FILE',
  mqttKeyFile: 'EDGESTELLE_MQTT_KEY_FILE',
  nodeId: 'EDGESTELLE_NODE_ID',
  nodeKey: 'EDGESTELLE_NODE_KEY',
  nodeKeyFile: 'EDGESTELLE_NODE_KEY_FILE',
  keyId: 'EDGESTELLE_KEY_ID',
  stateDir: 'EDGESTELLE_STATE_DIR',
  topicPrefix: 'EDGESTELLE_TOPIC_PREFIX',
  tags: 'EDGESTELLE_TAGS',
  maxConcurrentRuns: 'EDGESTELLE_MAX_CONCURRENT_RUNS',
  spoolMaxBytes: 'EDGESTELLE_SPOOL_MAX_BYTES',
  heartbeatIntervalMs: 'EDGESTELLE_HEARTBEAT_INTERVAL_MS',
  logLevel: 'EDGESTELLE_LOG_LEVEL',
} as const;
export type SettingKey = keyof typeof settings;

export function isSettingKey(name: unknown): name is SettingKey {
  return typeof name === 'string' && Object.hasOwn(settings, name);
}
export const settingKeys: readonly SettingKey[] = Object.keys(settings).filter(isSettingKey);

/** `--mqtt-url` for `mqttUrl`. */
export function flagName(key: SettingKey): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const KEY_BYTES = 32;

const intFrom = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const brokerUrlSchema = z
  // Settings arrive as strings, so the only type error is a missing value.
  .string({
    error: 'is required: the broker URL, e.g. mqtts://broker.example.com:8883 (or run `edgestelle agent enroll`)',
  })
  .refine((s) => URL.canParse(s), 'must be a URL such as mqtt://broker:1883 or mqtts://broker:8883')
  .refine((s) => !URL.canParse(s) || ['mqtt:', 'mqtts:'].includes(new URL(s).protocol), 'must use mqtt:// or mqtts://');

const nodeKeySchema = z
  .string()
  .trim()
  .refine((s) => /^[A-Za-z0-9+/]{43}=$/.test(s), `must be ${KEY_BYTES} bytes in base64 (44 characters ending in '=')`)
  .transform((s) => Buffer.from(s, 'base64'));

/** `k=v,k=v`, checked against the protocol's tag rules. */
const tagsFromString = z
  .string()
  .transform((s, ctx) => {
    const tags: Record<string, string> = {};
    for (const pair of s.split(',').filter((p) => p.trim() !== '')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        ctx.addIssue({ code: 'custom', message: `'${pair}' is not key=value` });
        return z.NEVER;
      }
      tags[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return tags;
  })
  .pipe(tagsSchema);

const rawSchema = z
  .object({
    mqttUrl: brokerUrlSchema,
    mqttUsername: z.string().min(1).optional(),
    mqttPassword: z.string().min(1).optional(),
    mqttCaFile: z.string().min(1).optional(),
    mqttCertFile: z.string().min(1).optional(),
    mqttKeyFile: z.string().min(1).optional(),
    nodeId: z.string().regex(NODE_ID_PATTERN, "must be 1-64 characters of a-z, 0-9 and '-'").optional(),
    nodeKey: nodeKeySchema.optional(),
    nodeKeyFile: z.string().min(1).optional(),
    keyId: intFrom(0, 0xffffffff).default(0),
    stateDir: z.string().min(1),
    topicPrefix: z
      .string()
      .refine((p) => {
        try {
          return new Topics(p).prefix === p;
        } catch {
          return false;
        }
      }, "must be up to 4 '/'-separated segments of A-Z, a-z, 0-9, '_' and '-'")
      .default(DEFAULT_TOPIC_PREFIX),
    tags: tagsFromString.default({}),
    maxConcurrentRuns: intFrom(1, 1024).default(4),
    spoolMaxBytes: intFrom(1024 * 1024, 2 ** 48).default(256 * 1024 * 1024),
    // Presence comes from the connection and its will; the heartbeat only refreshes facts (load,
    // memory, disk, running runs). Every 15 s was 667 messages a second at 10,000 nodes, a third
    // of what the master handled during a fleet-wide job.
    heartbeatIntervalMs: intFrom(1000, 24 * 3600 * 1000).default(60_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .superRefine((raw, ctx) => {
    if (raw.nodeKey !== undefined && raw.nodeKeyFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodeKeyFile'],
        message: `give only one of ${settings.nodeKey} and ${settings.nodeKeyFile}`,
      });
    }
    if (raw.nodeKey === undefined && raw.nodeKeyFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['nodeKey'],
        message: `is required (or ${settings.nodeKeyFile}); run \`edgestelle agent enroll --master URL --token TOKEN\` first`,
      });
    }
    if ((raw.mqttCertFile === undefined) !== (raw.mqttKeyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttKeyFile'],
        message: `give both ${settings.mqttCertFile} and ${settings.mqttKeyFile}, or neither`,
      });
    }
    if ((raw.mqttUsername === undefined) !== (raw.mqttPassword === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttPassword'],
        message: `give both ${settings.mqttUsername} and ${settings.mqttPassword}, or neither`,
      });
    }
  });

export interface AgentConfig {
  readonly mqttUrl: string;
  readonly mqttUsername: string | undefined;
  readonly mqttPassword: string | undefined;
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Undefined: the state dir's `node-id` (made on first start). */
  readonly nodeId: string | undefined;
  readonly keyId: number;
  readonly nodeKey: Buffer;
  readonly stateDir: string;
  readonly topicPrefix: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly maxConcurrentRuns: number;
  readonly spoolMaxBytes: number;
  readonly heartbeatIntervalMs: number;
  readonly logLevel: string;
}

export type RawSettings = Partial<Record<string, string>>;

export interface ConfigSources {
  flags?: RawSettings;
  /** The process environment; only `EDGESTELLE_*` names that are agent settings are read. */
  env?: NodeJS.ProcessEnv;
  /** Contents of `--env-file`: every key in it must be an agent setting. */
  envFileText?: string;
  /** What `edgestelle agent enroll` stored in the state dir. */
  credentials?: EnrollResponse;
}

export function defaultStateDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/edgestelle-agent' : join(homedir(), '.edgestelle-agent');
}

/** The state dir alone, before the rest: credentials live in it. */
export function resolveStateDir(sources: ConfigSources): string {
  return (
    sources.flags?.stateDir ??
    sources.env?.[settings.stateDir] ??
    (sources.envFileText === undefined ? undefined : parseEnv(sources.envFileText)[settings.stateDir]) ??
    defaultStateDir()
  );
}

/** Tags from enrollment are typed already (values may hold ',' or '='), so they skip the `k=v` string. */
function credentialSettings(credentials: EnrollResponse | undefined): RawSettings {
  if (credentials === undefined) return {};
  return {
    mqttUrl: credentials.mqtt.url,
    mqttUsername: credentials.mqtt.username,
    mqttPassword: credentials.mqtt.password,
    nodeId: credentials.nodeId,
    nodeKey: credentials.nodeKey,
    keyId: String(credentials.keyId),
    topicPrefix: credentials.topicPrefix,
  };
}

const byEnvName = new Map<string, SettingKey>(settingKeys.map((key) => [settings[key], key]));

function fromEnv(env: NodeJS.Dict<string>, strict: boolean, problems: string[], origin: string): RawSettings {
  const raw: RawSettings = {};
  for (const [name, value] of Object.entries(env)) {
    const key = byEnvName.get(name);
    if (key !== undefined) {
      if (value !== undefined && value !== '') raw[key] = value;
    } else if (strict) {
      problems.push(`${name} (in ${origin}): not an agent setting`);
    }
  }
  return raw;
}

/**
 * Builds the frozen config from every source, reporting every bad value at once by the name
 * the operator used (`EDGESTELLE_MAX_CONCURRENT_RUNS: …`). Other `EDGESTELLE_*` variables in
 * the process environment are left alone: they may belong to the CLI on the same machine.
 */
export function loadConfig(sources: ConfigSources): AgentConfig {
  const problems: string[] = [];
  const fileRaw =
    sources.envFileText === undefined ? {} : fromEnv(parseEnv(sources.envFileText), true, problems, '--env-file');
  const envRaw = fromEnv(sources.env ?? {}, false, problems, 'environment');
  const merged: RawSettings = {
    stateDir: resolveStateDir(sources),
    ...credentialSettings(sources.credentials),
    ...fileRaw,
    ...envRaw,
    ...sources.flags,
  };
  if (merged.nodeKeyFile !== undefined && merged.nodeKey !== undefined && sources.flags?.nodeKeyFile !== undefined) {
    // A key file given on the command line replaces a key from weaker sources instead of clashing with it.
    delete merged.nodeKey;
  }
  const parsed = rawSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path[0];
      problems.push(`${isSettingKey(field) ? settings[field] : String(field ?? '(config)')}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new AgentError(AgentErrorCode.configInvalid, `agent config is invalid:\n  ${problems.join('\n  ')}`);
  }
  const raw = parsed.data;
  const tags = merged.tags === undefined ? (sources.credentials?.tags ?? {}) : raw.tags;
  const readSetting = (key: SettingKey, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (cause) {
      problems.push(`${settings[key]}: cannot read ${path}: ${errnoCode(cause) ?? String(cause)}`);
      return undefined;
    }
  };
  const ca = readSetting('mqttCaFile', raw.mqttCaFile);
  const cert = readSetting('mqttCertFile', raw.mqttCertFile);
  const key = readSetting('mqttKeyFile', raw.mqttKeyFile);
  let nodeKey = raw.nodeKey;
  const keyFileText = readSetting('nodeKeyFile', raw.nodeKeyFile)?.toString('utf8');
  if (keyFileText !== undefined) {
    const fromFile = nodeKeySchema.safeParse(keyFileText);
    if (fromFile.success) nodeKey = fromFile.data;
    else problems.push(`${settings.nodeKeyFile}: the file must hold ${KEY_BYTES} bytes in base64`);
  }
  if (problems.length > 0 || nodeKey === undefined) {
    throw new AgentError(AgentErrorCode.configInvalid, `agent config is invalid:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze({
    mqttUrl: raw.mqttUrl,
    mqttUsername: raw.mqttUsername,
    mqttPassword: raw.mqttPassword,
    tls: Object.freeze({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    }),
    nodeId: raw.nodeId,
    keyId: raw.keyId,
    nodeKey,
    stateDir: raw.stateDir,
    topicPrefix: raw.topicPrefix,
    tags: Object.freeze({ ...tags }),
    maxConcurrentRuns: raw.maxConcurrentRuns,
    spoolMaxBytes: raw.spoolMaxBytes,
    heartbeatIntervalMs: raw.heartbeatIntervalMs,
    logLevel: raw.logLevel,
  });
}
