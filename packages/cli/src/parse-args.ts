import {
  DEFAULT_TIMEOUT_MS,
  describeIssues,
  jobCreateSchema,
  namedInterpreters,
  nodeIdSchema,
  tagsSchema,
  type JobCreate,
  type RolloutCreate,
  type RolloutLimit,
  type ScriptParams,
  type Target,
} from '@edgestelle/protocol';
import { usageError } from './cli-error.ts';
import { describeFlagIssues } from './flag-issues.ts';

/**
 * Turns command-line words into API request values. Pure: every function either returns a
 * value the master's schema accepts or throws a usage error naming the flag.
 */

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30s`, `10m`, `1h30m`, `500ms`, `2d`; a bare number is seconds. */
export function parseDurationMs(text: string, flag: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(part)) {
    const [whole, amount, unit] = match;
    total += Number(amount) * (DURATION_UNIT_MS[unit ?? ''] ?? Number.NaN);
    consumed += whole.length;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length || !Number.isFinite(total)) {
    throw usageError(`${flag}: '${text}' is not a duration (try 30s, 10m, 1h30m)`);
  }
  return Math.round(total);
}

/** `5` nodes or `20%` of the job's nodes. */
export function parseRolloutLimit(text: string, flag: string): RolloutLimit {
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (match === null) throw usageError(`${flag}: '${text}' is neither a count (5) nor a percentage (20%)`);
  const amount = Number(match[1]);
  if (match[2] === '%') {
    if (amount > 100) throw usageError(`${flag}: ${text} is more than 100%`);
    return { percent: amount };
  }
  if (!Number.isInteger(amount)) throw usageError(`${flag}: a count must be a whole number, not ${text}`);
  return { count: amount };
}

/**
 * `key=value` pairs into a record; the value may contain '=' and may be empty. With
 * `fromEnvironment`, a bare `key` takes its value from there. No message repeats a value: the
 * same parser reads secrets.
 */
export function parseAssignments(
  pairs: readonly string[],
  flag: string,
  fromEnvironment?: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq === 0) throw usageError(`${flag}: '=…' is not key=value (the name is missing)`);
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (eq === -1 && fromEnvironment === undefined) throw usageError(`${flag}: '${pair}' is not key=value`);
    if (Object.hasOwn(result, key)) throw usageError(`${flag}: '${key}' is given twice`);
    const value = eq === -1 ? fromEnvironment?.[key] : pair.slice(eq + 1);
    if (value === undefined) {
      throw usageError(`${flag}: ${key} is not set in this shell: export it, or give ${key}=value`);
    }
    result[key] = value;
  }
  return result;
}

export function parseTags(pairs: readonly string[], flag = '--tag'): Record<string, string> {
  const parsed = tagsSchema.safeParse(parseAssignments(pairs, flag));
  if (!parsed.success) throw usageError(`${flag}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export function parseNodeId(text: string, flag = '--node'): string {
  const parsed = nodeIdSchema.safeParse(text);
  if (!parsed.success) throw usageError(`${flag}: '${text}' ${parsed.error.issues[0]?.message ?? 'is not a node id'}`);
  return parsed.data;
}

/** The master's base URL: http(s) only, no query, no trailing slash. */
export function parseMasterUrl(text: string, flag = '--url'): string {
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch (err) {
    throw usageError(`${flag}: '${text}' is not a URL (${err instanceof Error ? err.message : String(err)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${flag}: '${text}' must start with http:// or https://`);
  }
  if (url.search !== '' || url.hash !== '') throw usageError(`${flag}: '${text}' must not have a query or fragment`);
  if (url.username !== '' || url.password !== '') {
    throw usageError(`${flag}: put credentials in --token or the password prompt, not in the URL`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

export interface TargetFlags {
  node: readonly string[];
  tag: readonly string[];
  all: boolean;
}

/** Exactly one of --node, --tag, --all. */
export function parseTarget(flags: TargetFlags): Target {
  const given = [flags.node.length > 0, flags.tag.length > 0, flags.all].filter(Boolean).length;
  if (given === 0) throw usageError('choose the nodes: --node ID, --tag key=value or --all');
  if (given > 1) throw usageError('--node, --tag and --all are mutually exclusive: give one of them');
  if (flags.all) return { all: true };
  if (flags.node.length > 0) return { nodeIds: [...new Set(flags.node.map((n) => parseNodeId(n)))] };
  return { tags: parseTags(flags.tag) };
}

/**
 * The interpreter a local script asks for in its `#!` line, as the agent names it: `sh`,
 * `bash`, `python3`, `node` or an absolute path. No `#!` means `sh`. Options on the `#!` line
 * cannot be passed (the agent runs `interpreter script args`), so they are refused, not dropped.
 */
export function interpreterFromShebang(body: string, file: string): string {
  const first = body.split('\n', 1)[0] ?? '';
  if (!first.startsWith('#!')) return 'sh';
  const words = first.slice(2).trim().split(/\s+/);
  const [program = '', ...rest] = words;
  const viaEnv = program === '/usr/bin/env' || program === '/bin/env';
  const interpreter = viaEnv ? (rest[0] ?? '') : program;
  const options = viaEnv ? rest.slice(1) : rest;
  if (options.length > 0) {
    throw usageError(
      `${file}: the #! line passes options (${options.join(' ')}) the agent cannot pass on: set them inside the script, or give --interpreter`,
    );
  }
  if ((namedInterpreters as readonly string[]).includes(interpreter) || interpreter.startsWith('/')) return interpreter;
  throw usageError(`${file}: '#!${first.slice(2).trim()}' names no interpreter the agent knows: give --interpreter`);
}

export interface RunFlags extends TargetFlags {
  /** The words after `--`: the command, or with `script` the script's arguments. */
  command: readonly string[];
  /** A local script file's body, sent along with the job. */
  script?: { body: string; interpreter: string } | undefined;
  /** A library script, its exact version and the checked `--param` values. */
  library?: { name: string; version: number; params: ScriptParams } | undefined;
  /** Absent: 10 minutes for a command or local script, the library script's own timeout. */
  timeout?: string | undefined;
  deadline?: string | undefined;
  concurrency?: string | undefined;
  maxFailures?: string | undefined;
  env: readonly string[];
  /** `--secret-env` values, already read (see parseAssignments); sent as the job's secretEnv. */
  secretEnv?: Readonly<Record<string, string>> | undefined;
  cwd?: string | undefined;
  pty: boolean;
  mergeStderr?: boolean;
  /** `--online-only`: offline targets are left out (a `--deadline` of 0 means the same). */
  onlineOnly?: boolean | undefined;
  /** `--waves` and its gate, already parsed (rollout-flags.ts). */
  rollout?: RolloutCreate | undefined;
}

/**
 * The job to create for `edgestelle run`. The words after `--` are joined with spaces and run
 * through `/bin/sh -c`, as ssh does, so `-- 'df -h | tail -1'` and `-- df -h` both work.
 */
export function buildJobCreate(flags: RunFlags): JobCreate {
  // What any job may carry, whatever it runs.
  const common = {
    ...(flags.concurrency === undefined ? {} : { concurrency: parseRolloutLimit(flags.concurrency, '--concurrency') }),
    ...(flags.maxFailures === undefined ? {} : { maxFailures: parseRolloutLimit(flags.maxFailures, '--max-failures') }),
    ...(flags.deadline === undefined ? {} : { offlineDeadlineMs: parseDurationMs(flags.deadline, '--deadline') }),
    ...(flags.onlineOnly === true ? { onlineOnly: true } : {}),
    ...(flags.secretEnv === undefined || Object.keys(flags.secretEnv).length === 0
      ? {}
      : { secretEnv: { ...flags.secretEnv } }),
    ...(flags.rollout === undefined ? {} : { rollout: flags.rollout }),
  };
  const job: JobCreate =
    flags.library === undefined
      ? { target: parseTarget(flags), spec: buildSpec(flags), ...common }
      : {
          target: parseTarget(flags),
          script: { name: flags.library.name, version: flags.library.version },
          params: flags.library.params,
          ...(flags.timeout === undefined ? {} : { timeoutMs: parseDurationMs(flags.timeout, '--timeout') }),
          ...common,
        };
  const checked = jobCreateSchema.safeParse(job);
  if (!checked.success) throw usageError(describeFlagIssues(checked.error));
  return job;
}

/**
 * A library script runs as saved: what would change it belongs in a parameter. Secret values
 * are the exception (a parameter's value is shown to every viewer): `--secret-env` is allowed.
 */
export function refuseWithLibraryScript(flags: RunFlags): void {
  const given = [
    flags.command.length > 0 ? 'words after --' : '',
    flags.script === undefined ? '' : '--file',
    flags.env.length > 0 ? '--env' : '',
    flags.cwd === undefined ? '' : '--cwd',
    flags.pty ? '--pty' : '',
    flags.mergeStderr === true ? '--merge-stderr' : '',
  ].filter((what) => what !== '');
  if (given.length > 0) {
    throw usageError(`--script runs the library script as saved, with --param values only: drop ${given.join(', ')}`);
  }
}

function buildSpec(flags: RunFlags): NonNullable<JobCreate['spec']> {
  const command = flags.command.join(' ').trim();
  if (flags.script === undefined && command.length === 0) {
    throw usageError(
      'give the command after --, e.g. edgestelle run --all -- uptime (or a local --file, or a library --script)',
    );
  }
  return {
    ...(flags.script === undefined ? { command } : { script: flags.script, args: [...flags.command] }),
    timeoutMs: flags.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDurationMs(flags.timeout, '--timeout'),
    env: parseAssignments(flags.env, '--env'),
    pty: flags.pty,
    ...(flags.mergeStderr === true ? { mergeStderr: true } : {}),
    ...(flags.cwd === undefined ? {} : { cwd: flags.cwd }),
  };
}

/**
 * `--since`/`--until`: a duration ago (`30m`, `2d`), or a date or time (`2026-11-24`,
 * `2026-11-24T10:00:00Z`), or epoch milliseconds. Returns epoch milliseconds.
 */
export function parseTimeFlag(text: string, flag: string, nowMs: number): number {
  const trimmed = text.trim();
  if (/^\d{10,}$/.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    // UTC like every time the CLI prints; JavaScript would read a date-time without offset as local.
    const noOffset = /T[\d:.]+$/.test(trimmed);
    const at = Date.parse(noOffset ? `${trimmed}Z` : trimmed);
    if (Number.isFinite(at)) return at;
    throw usageError(`${flag}: '${text}' is not a date (try 2026-11-24 or 2026-11-24T10:00:00Z)`);
  }
  try {
    return nowMs - parseDurationMs(trimmed, flag);
  } catch (err) {
    throw usageError(`${flag}: '${text}' is neither a time ago (30m, 2d) nor a date (2026-11-24T10:00:00Z)`, {
      cause: err,
    });
  }
}
