import { readFile } from 'node:fs/promises';
import type { JobCreate } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { usageError } from '../cli-error.ts';
import { connect, type Connection } from '../credentials.ts';
import {
  buildJobCreate,
  interpreterFromShebang,
  parseAssignments,
  refuseWithLibraryScript,
  type RunFlags,
} from '../parse-args.ts';
import { parseRolloutFlags } from '../rollout-flags.ts';
import { bindParamFlags } from '../script-params.ts';
import type { Terminal } from '../terminal.ts';
import { collect } from './help.ts';
import { fetchScript, parseScriptName, parseVersion } from './scripts.ts';

/** The flags that say what a job runs and where: `run` and `schedules create` share them. */
export interface JobCliFlags {
  node?: string[];
  tag?: string[];
  all?: boolean;
  timeout?: string;
  deadline?: string;
  concurrency?: string;
  maxFailures?: string;
  env?: string[];
  secretEnv?: string[];
  cwd?: string;
  file?: string;
  interpreter?: string;
  script?: string;
  version?: string;
  param?: string[];
  pty?: boolean;
  mergeStderr?: boolean;
  onlineOnly?: boolean;
  waves?: string;
  maxFailureRate?: string;
  wavePause?: string;
  approve?: boolean;
}

export function addJobOptions(command: Command): Command {
  return command
    .option('-n, --node <nodeId>', 'run on this node (repeatable)', collect)
    .option('-t, --tag <key=value>', 'run on nodes with this tag (repeatable: all must match)', collect)
    .option('-a, --all', 'run on every node')
    .option(
      '--timeout <duration>',
      'kill a run that lasts longer (TERM, then KILL; default 10m, a library script’s own timeout)',
    )
    .option(
      '--deadline <duration>',
      'how long to wait for an offline node before its run expires (default 10m); 0 is --online-only',
    )
    .option('--online-only', 'run only on the targets online now; offline ones are left out (and named)')
    .option('--concurrency <n|n%>', 'run on at most this many nodes at once (default: all)')
    .option('--max-failures <n|n%>', 'start no more nodes once this many runs failed')
    .option(
      '--waves <list>',
      'start the nodes in waves: cumulative counts or percentages, the last 100% (1,10%,100%); a gate after each wave',
    )
    .option(
      '--max-failure-rate <P%>',
      'with --waves: a wave passes its gate if at most this share of it failed (default 0%)',
    )
    .option('--wave-pause <duration>', 'with --waves: wait this long after a wave passed before the next one starts')
    .option('--approve', 'with --waves: pause the job at every gate until `edgestelle jobs resume JOB`')
    .option('-e, --env <KEY=value>', 'environment variable for the command (repeatable)', collect)
    .option(
      '--secret-env <KEY[=value]>',
      'secret environment variable: stored sealed, shown as *** to everyone; KEY alone takes the value from your own environment (repeatable)',
      collect,
    )
    .option('-f, --file <script>', 'send this local script and run it; the words after -- become its arguments')
    .option(
      '--interpreter <name>',
      'run --file with sh, bash, python3, node or an absolute path (default: its #! line)',
    )
    .option('-s, --script <name>', 'run this script from the master’s library (see edgestelle scripts list)')
    .option('--version <n>', 'with --script: this version (default: the newest)')
    .option(
      '-p, --param <name=value>',
      'with --script: a parameter value, checked against its type (repeatable)',
      collect,
    )
    .option('--cwd <dir>', 'working directory on the node (absolute)')
    .option('--pty', 'run in a pseudo-terminal, for programs that want one')
    .option('--merge-stderr', 'send stderr into stdout (as 2>&1): one stream, in the exact order the run wrote it');
}

/**
 * The job the flags describe, checked here first; a library script is fetched to check the
 * `--param` values against it (and its version pinned), which needs the connection it returns.
 */
export async function jobRequestFromFlags(
  terminal: Terminal,
  command: string[],
  flags: JobCliFlags,
): Promise<{ request: JobCreate; connection: Connection | undefined }> {
  if (flags.interpreter !== undefined && flags.file === undefined) throw usageError('--interpreter goes with --file');
  if (flags.script === undefined && (flags.version !== undefined || flags.param !== undefined)) {
    throw usageError('--version and --param go with --script');
  }
  const runFlags: RunFlags = {
    script: flags.file === undefined ? undefined : await readScript(flags.file, flags.interpreter),
    node: flags.node ?? [],
    tag: flags.tag ?? [],
    all: flags.all === true,
    command,
    timeout: flags.timeout,
    deadline: flags.deadline,
    concurrency: flags.concurrency,
    maxFailures: flags.maxFailures,
    env: flags.env ?? [],
    secretEnv: parseAssignments(flags.secretEnv ?? [], '--secret-env', terminal.env),
    cwd: flags.cwd,
    pty: flags.pty === true,
    mergeStderr: flags.mergeStderr === true,
    onlineOnly: flags.onlineOnly === true,
    rollout: parseRolloutFlags(flags),
  };
  let connection: Connection | undefined;
  if (flags.script !== undefined) {
    refuseWithLibraryScript(runFlags);
    const name = parseScriptName(flags.script, '--script');
    const version = parseVersion(flags.version);
    // Check the target and durations before asking the master for the script.
    buildJobCreate({ ...runFlags, library: { name, version: version ?? 1, params: {} } });
    connection = await connect(terminal.env);
    const script = await fetchScript(connection.api, name, version);
    // Pin the version the values were checked against, even if a newer one is saved meanwhile.
    runFlags.library = {
      name,
      version: script.version,
      params: bindParamFlags(name, script.parameters, flags.param ?? []),
    };
  }
  return { request: buildJobCreate(runFlags), connection };
}

async function readScript(
  file: string,
  interpreter: string | undefined,
): Promise<{ body: string; interpreter: string }> {
  let body: string;
  try {
    body = await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(
      `--file: cannot read ${file} (${err instanceof Error && 'code' in err ? String(err.code) : String(err)})`,
    );
  }
  return { body, interpreter: interpreter ?? interpreterFromShebang(body, file) };
}
