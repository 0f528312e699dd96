import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, parseEnv } from 'node:util';
import { DEFAULT_TOPIC_PREFIX, Topics, describeIssues } from '@edgestelle/protocol';
import { Cron } from 'croner';
import { z } from 'zod';
import { MasterError, MasterErrorCode } from './errors.ts';

/**
 * The master's whole configuration: one schema, read from flags, then `EDGESTELLE_*`
 * environment variables, then an env file (in that order of precedence). Every bad value is
 * named at once; the result is frozen.
 */

const port = z.coerce.number().int().min(0).max(65_535);
const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');
const mqttUrl = z
  .string()
  .url()
  .refine((u) => /^(mqtts?|wss?|tcp|ssl):\/\//.test(u), 'must be an mqtt://, mqtts://, ws:// or wss:// URL');

const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./edgestelle-data'),
    httpHost: z.string().min(1).default('127.0.0.1'),
    httpPort: port.default(8080),
    /** Open HTTP connections (WebSockets included); more are closed as they are accepted. */
    httpMaxConnections: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    /** The origin browsers use to reach the console, when it is not http://httpHost:httpPort (proxy, TLS). */
    publicUrl: z.string().url().optional(),
    /** More origins allowed to open the live hub with a session cookie, comma-separated. */
    allowedOrigins: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((o) => o.trim())
          .filter((o) => o !== ''),
      )
      .default([]),
    mqttHost: z.string().min(1).default('127.0.0.1'),
    /** Absent means "1883, or a free port if 1883 is taken"; set, it must be bindable. */
    mqttPort: port.optional(),
    mqttUrl: mqttUrl.optional(),
    mqttShared: bool.default(false),
    /**
     * Manage node users and ACLs on the external broker through Mosquitto's dynamic-security
     * plugin. Unset: on when the external broker's URL names a master user (containing ':').
     */
    mqttDynsec: bool.optional(),
    agentMqttUrl: mqttUrl.optional(),
    mqttTlsPort: port.optional(),
    mqttTlsCertFile: z.string().optional(),
    mqttTlsKeyFile: z.string().optional(),
    /** Embedded broker: sockets that may wait for their CONNACK at once (default 1000). */
    mqttMaxUnauthenticated: z.coerce.number().int().min(1).max(1_000_000).optional(),
    databaseUrl: z
      .string()
      .refine((u) => /^(postgres(ql)?:\/\/|sqlite:|file:)/.test(u) || !u.includes('://'), {
        message: 'must be postgres://…, sqlite:<path> or a file path',
      })
      .optional(),
    /** A 32-byte secret shared by every master of a scale-out; default `<dataDir>/master.key`. */
    masterKeyFile: z.string().min(1).optional(),
    adminPassword: z.string().min(8, 'must be at least 8 characters').max(1024).optional(),
    topicPrefix: z
      .string()
      .default(DEFAULT_TOPIC_PREFIX)
      .refine((p) => {
        try {
          new Topics(p);
          return true;
        } catch {
          return false;
        }
      }, "must be up to 4 '/'-separated segments of A-Z, a-z, 0-9, '_' and '-'"),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Take client addresses (audit, login throttling) from X-Forwarded-For: only behind a proxy you run. */
    trustProxy: bool.default(false),
    /** Finished jobs older than this many days are deleted with their output; unset keeps them. */
    retentionDays: z.coerce.number().positive().max(36_500).optional(),
    /** Oldest finished jobs are deleted until stored output is under this many bytes (suffixes k, M, G). */
    retentionMaxBytes: z
      .string()
      .regex(/^\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]?)?$/, 'a size like 500000000, 800M or 20G')
      .transform(parseSize)
      .optional(),
    /** When retention runs: a cron expression (UTC). */
    retentionSchedule: z
      .string()
      .default('0 3 * * *')
      .refine((pattern) => {
        try {
          new Cron(pattern, { paused: true }).stop();
          return true;
        } catch {
          return false;
        }
      }, 'must be a cron expression such as "0 3 * * *"'),
    /** A shell session without a keystroke or output for this long is closed. */
    shellIdleTimeoutSec: z.coerce
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .default(900),
    /** A shell session is closed this long after it opened, busy or not. */
    shellMaxSessionSec: z.coerce
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .default(28_800),
    demo: bool.default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (
      c.mqttUrl !== undefined &&
      (c.mqttPort !== undefined || c.mqttTlsPort !== undefined || c.mqttMaxUnauthenticated !== undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttUrl'],
        message:
          'EDGESTELLE_MQTT_URL (external broker) and EDGESTELLE_MQTT_PORT/_TLS_PORT/_MAX_UNAUTHENTICATED (embedded broker) exclude each other',
      });
    }
    if (c.mqttDynsec === true && c.mqttUrl === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttDynsec'],
        message:
          'dynamic security is for an external Mosquitto (EDGESTELLE_MQTT_URL); the embedded broker checks nodes itself',
      });
    }
    if (c.mqttShared && c.mqttUrl === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttShared'],
        message:
          'shared subscriptions need an external broker (EDGESTELLE_MQTT_URL); the embedded one serves one master',
      });
    }
    const tls = [c.mqttTlsPort, c.mqttTlsCertFile, c.mqttTlsKeyFile].filter((v) => v !== undefined).length;
    if (tls !== 0 && tls !== 3) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqttTlsPort'],
        message: 'a TLS listener needs all of EDGESTELLE_MQTT_TLS_PORT, _TLS_CERT_FILE and _TLS_KEY_FILE',
      });
    }
  });

type ParsedConfig = z.infer<typeof configSchema>;

export interface MasterConfig extends Readonly<Omit<ParsedConfig, 'databaseUrl' | 'allowedOrigins' | 'mqttDynsec'>> {
  /** Node credentials go to the external broker's dynamic-security plugin. */
  readonly mqttDynsec: boolean;
  readonly dataDir: string;
  /** Always set: the SQLite file in the data dir unless a URL was given. */
  readonly databaseUrl: string;
  readonly allowedOrigins: readonly string[];
}

/** Config key → environment variable → flag. */
const keys = {
  dataDir: ['EDGESTELLE_DATA_DIR', 'data-dir'],
  httpHost: ['EDGESTELLE_HTTP_HOST', 'http-host'],
  httpPort: ['EDGESTELLE_HTTP_PORT', 'http-port'],
  httpMaxConnections: ['EDGESTELLE_HTTP_MAX_CONNECTIONS', 'http-max-connections'],
  publicUrl: ['EDGESTELLE_PUBLIC_URL', 'public-url'],
  allowedOrigins: ['EDGESTELLE_ALLOWED_ORIGINS', 'allowed-origins'],
  mqttHost: ['EDGESTELLE_MQTT_HOST', 'mqtt-host'],
  mqttPort: ['EDGESTELLE_MQTT_PORT', 'mqtt-port'],
  mqttUrl: ['EDGESTELLE_MQTT_URL', 'mqtt-url'],
  mqttShared: ['EDGESTELLE_MQTT_SHARED', 'mqtt-shared'],
  mqttDynsec: ['EDGESTELLE_MQTT_DYNSEC', 'mqtt-dynsec'],
  agentMqttUrl: ['EDGESTELLE_AGENT_MQTT_URL', 'agent-mqtt-url'],
  mqttTlsPort: ['EDGESTELLE_MQTT_TLS_PORT', 'mqtt-tls-port'],
  mqttTlsCertFile: ['EDGESTELLE_MQTT_TLS_CERT_FILE', 'mqtt-tls-cert-file'],
  mqttTlsKeyFile: ['EDGESTELLE_MQTT_TLS_KEY_FILE', 'mqtt-tls-key-file'],
  mqttMaxUnauthenticated: ['EDGESTELLE_MQTT_MAX_UNAUTHENTICATED', 'mqtt-max-unauthenticated'],
  databaseUrl: ['EDGESTELLE_DATABASE_URL', 'database-url'],
  masterKeyFile: ['EDGESTELLE_MASTER_KEY_FILE', 'master-key-file'],
  adminPassword: ['EDGESTELLE_ADMIN_PASSWORD', undefined],
  topicPrefix: ['EDGESTELLE_TOPIC_PREFIX', 'topic-prefix'],
  logLevel: ['EDGESTELLE_LOG_LEVEL', 'log-level'],
  trustProxy: ['EDGESTELLE_TRUST_PROXY', 'trust-proxy'],
  retentionDays: ['EDGESTELLE_RETENTION_DAYS', 'retention-days'],
  retentionMaxBytes: ['EDGESTELLE_RETENTION_MAX_BYTES', 'retention-max-bytes'],
  retentionSchedule: ['EDGESTELLE_RETENTION_SCHEDULE', 'retention-schedule'],
  shellIdleTimeoutSec: ['EDGESTELLE_SHELL_IDLE_TIMEOUT_SEC', 'shell-idle-timeout-sec'],
  shellMaxSessionSec: ['EDGESTELLE_SHELL_MAX_SESSION_SEC', 'shell-max-session-sec'],
  demo: ['EDGESTELLE_DEMO', undefined],
} as const satisfies Record<keyof ParsedConfig, readonly [string, string | undefined]>;

/** Flags that are switches (`--mqtt-shared`); their variables take 1/0, true/false, yes/no. */
const booleanKeys = new Set<string>(['mqttShared', 'mqttDynsec', 'trustProxy']);

export const configHelp = `Usage: edgestelle master [flags]

Every flag has an environment variable (flags win over the environment, which wins over --env-file):
${Object.values(keys)
  .map(([env, flag]) => `  ${flag === undefined ? ''.padEnd(26) : `--${flag}`.padEnd(26)} ${env}`)
  .join('\n')}
  --env-file <path>          read KEY=value lines first
  --demo                     also enroll and run a local agent (EDGESTELLE_DEMO=1)
  --help                     this text

EDGESTELLE_ADMIN_PASSWORD sets the first admin's password; unset, one is generated, printed once and
kept in <data dir>/initial-admin-password.`;

export interface ConfigSource {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string;
}

export type ConfigResult = { kind: 'config'; config: MasterConfig } | { kind: 'help' };

export function loadConfig(source: ConfigSource): ConfigResult {
  const flagOptions: Record<string, { type: 'string' | 'boolean' }> = {
    'env-file': { type: 'string' },
    demo: { type: 'boolean' },
    help: { type: 'boolean' },
  };
  for (const [key, [, flag]] of Object.entries(keys)) {
    if (flag !== undefined) flagOptions[flag] = { type: booleanKeys.has(key) ? 'boolean' : 'string' };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...source.argv], options: flagOptions, strict: true, allowPositionals: false }).values;
  } catch (cause) {
    throw new MasterError(
      MasterErrorCode.configInvalid,
      `${cause instanceof Error ? cause.message : String(cause)} (see edgestelle master --help)`,
      { cause },
    );
  }
  if (values.help === true) return { kind: 'help' };
  const cwd = source.cwd ?? process.cwd();
  const envFile = values['env-file'];
  const fromFile = typeof envFile === 'string' ? readEnvFile(resolve(cwd, envFile)) : {};

  const raw: Record<string, string | undefined> = {};
  for (const [key, [env, flag]] of Object.entries(keys)) {
    const flagValue = flag === undefined ? undefined : values[flag];
    raw[key] =
      typeof flagValue === 'string' ? flagValue : flagValue === true ? 'true' : (source.env[env] ?? fromFile[env]);
    if (raw[key] === '') raw[key] = undefined;
  }
  if (values.demo === true) raw.demo = 'true';

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const named = describeIssues(parsed.error, 50).replace(/(^|; )(\w+)(?=:)/g, (_m, sep: string, key: string) => {
      const entry = (keys as Record<string, readonly [string, string | undefined]>)[key];
      return `${sep}${entry?.[0] ?? key}`;
    });
    throw new MasterError(MasterErrorCode.configInvalid, `invalid configuration: ${named}`);
  }
  const dataDir = resolve(cwd, parsed.data.dataDir);
  const databaseUrl = parsed.data.databaseUrl ?? `sqlite:${resolve(dataDir, 'edgestelle.db')}`;
  return {
    kind: 'config',
    config: Object.freeze({
      ...parsed.data,
      dataDir,
      databaseUrl,
      allowedOrigins: Object.freeze([...parsed.data.allowedOrigins]),
      mqttDynsec:
        parsed.data.mqttDynsec ?? (parsed.data.mqttUrl !== undefined && urlUsername(parsed.data.mqttUrl).includes(':')),
    }),
  };
}

const sizeUnits: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `800M` → bytes (binary units; `k`, `KiB` and `KB` all mean 1024). */
function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)/i.exec(text.trim());
  return Math.floor(Number(match?.[1] ?? 0) * (sizeUnits[(match?.[2] ?? '').toLowerCase()] ?? 1));
}

function urlUsername(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new MasterError(MasterErrorCode.configInvalid, `cannot read the env file ${path}: ${String(cause)}`, {
      cause,
    });
  }
  const parsed = parseEnv(text);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Config keys by name (configFrom's input); a value of undefined is as if not given. */
export type ConfigInputs = Partial<Record<keyof typeof keys, string>>;

/** The EDGESTELLE_* variables that set `partial`, as `edgestelle master` reads them from its environment. */
export function configEnv(partial: ConfigInputs): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(partial)) {
    const entry = (keys as Record<string, readonly [string, string | undefined]>)[key];
    if (entry !== undefined && value !== undefined) env[entry[0]] = value;
  }
  return env;
}

/** Test helper and programmatic use: a full config from a few fields. */
export function configFrom(partial: ConfigInputs, cwd?: string): MasterConfig {
  const result = loadConfig({ argv: [], env: configEnv(partial), ...(cwd === undefined ? {} : { cwd }) });
  if (result.kind !== 'config') throw new Error('unreachable: no --help given');
  return result.config;
}
