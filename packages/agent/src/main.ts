import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ExitCode, describeError } from '@edgestelle/protocol';
import pino from 'pino';
import { createAgent } from './agent.ts';
import { flagName, loadConfig, resolveStateDir, settingKeys, settings, type RawSettings } from './config.ts';
import { enroll } from './enroll.ts';
import { AgentError, AgentErrorCode } from './errors.ts';
import { errnoCode } from './fs-errors.ts';
import { readCredentials } from './state-dir.ts';

const USAGE = `usage: edgestelle agent [flags]
       edgestelle agent enroll --master URL --token TOKEN [--state-dir DIR] [--name NAME] [--node-id ID]

Runs the EdgeStelle agent on this node until SIGTERM or SIGINT. Every flag has an
environment variable of the same name (--mqtt-url = EDGESTELLE_MQTT_URL); flags win, then the
environment, then --env-file, then what \`enroll\` stored in the state dir.

flags:
${settingKeys.map((key) => `  --${flagName(key).padEnd(24)} ${settings[key]}`).join('\n')}
  --env-file FILE            read EDGESTELLE_* settings from FILE
  --help                     show this
`;

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}

function fail(err: unknown): number {
  if (err instanceof AgentError) {
    write(process.stderr, `edgestelle agent: ${err.message}`);
    if (err.code === AgentErrorCode.usage) return ExitCode.usage;
    if (err.code === AgentErrorCode.enrollFailed) return ExitCode.unavailable;
    if (err.code === AgentErrorCode.brokerRefused) return ExitCode.noPermission;
    return ExitCode.config;
  }
  write(process.stderr, `edgestelle agent: ${describeError(err)}`);
  return ExitCode.failure;
}

function parse<T extends ParseArgsConfig['options']>(argv: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (cause) {
    throw new AgentError(AgentErrorCode.usage, `${describeError(cause)}\n\n${USAGE}`, { cause });
  }
}

/**
 * `edgestelle agent [flags]` and `edgestelle agent enroll …`: parses its own flags and runs
 * until a signal stops it. Returns the process exit code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    if (argv[0] === 'enroll') return await runEnroll(argv.slice(1));
    return await runAgent(argv);
  } catch (err) {
    return fail(err);
  }
}

async function runEnroll(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, {
    master: { type: 'string' },
    token: { type: 'string' },
    'state-dir': { type: 'string' },
    'node-id': { type: 'string' },
    name: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    write(process.stdout, USAGE);
    return ExitCode.ok;
  }
  if (values.master === undefined || values.token === undefined) {
    throw new AgentError(AgentErrorCode.usage, `enroll needs --master and --token\n\n${USAGE}`);
  }
  const stateDir = resolveStateDir({
    flags: values['state-dir'] === undefined ? {} : { stateDir: values['state-dir'] },
    env: process.env,
  });
  const { credentials, credentialsPath, stateDirWarning } = await enroll({
    masterUrl: values.master,
    token: values.token,
    stateDir,
    nodeId: values['node-id'] ?? process.env[settings.nodeId],
    name: values.name ?? hostname(),
  });
  if (stateDirWarning !== undefined) write(process.stderr, `edgestelle agent: ${stateDirWarning}`);
  // The agent must be started with the state dir it was enrolled into, or it finds no credentials.
  const stateDirFlag = stateDir === resolveStateDir({ env: {} }) ? '' : ` --state-dir ${shellWord(stateDir)}`;
  write(
    process.stdout,
    `enrolled as node ${credentials.nodeId}; credentials in ${credentialsPath}. Start it with: edgestelle agent${stateDirFlag}`,
  );
  return ExitCode.ok;
}

/** A path as one shell word, quoted only when it needs to be. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

async function runAgent(argv: readonly string[]): Promise<number> {
  const flagOptions = Object.fromEntries(settingKeys.map((key) => [flagName(key), { type: 'string' as const }]));
  const { values } = parse(argv, { ...flagOptions, 'env-file': { type: 'string' }, help: { type: 'boolean' } });
  if (values.help === true) {
    write(process.stdout, USAGE);
    return ExitCode.ok;
  }
  const given = new Map<string, unknown>(Object.entries(values));
  const flags: RawSettings = {};
  for (const key of settingKeys) {
    const value = given.get(flagName(key));
    if (typeof value === 'string') flags[key] = value;
  }
  const envFile = values['env-file'];
  let envFileText: string | undefined;
  if (typeof envFile === 'string') {
    try {
      envFileText = readFileSync(envFile, 'utf8');
    } catch (cause) {
      throw new AgentError(
        AgentErrorCode.configInvalid,
        `cannot read --env-file ${envFile}: ${errnoCode(cause) ?? describeError(cause)}`,
        { cause },
      );
    }
  }
  const sources = { flags, env: process.env, ...(envFileText === undefined ? {} : { envFileText }) };
  const stateDir = resolveStateDir(sources);
  const credentials = readCredentials(stateDir);
  const config = loadConfig({ ...sources, ...(credentials === undefined ? {} : { credentials }) });
  const logger = pino({ level: config.logLevel });
  const agent = createAgent(config, { logger });
  await agent.start();
  const ended = await Promise.race([
    new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
    agent.gaveUp,
  ]);
  logger.info(ended instanceof AgentError ? { code: ended.code } : { signal: ended }, 'stopping');
  await agent.stop();
  // The unit's RestartPreventExitStatus keeps systemd from starting a revoked agent again.
  if (ended instanceof AgentError) return fail(ended);
  return ExitCode.ok;
}
