import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { ExitCode, jobDtoSchema, type JobDto, type RunDto } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { connect, type Connection } from '../credentials.ts';
import { followOutput, type Following } from '../follow-output.ts';
import { CliError, usageError } from '../cli-error.ts';
import {
  countRunStates,
  formatCounts,
  formatDuration,
  formatRunSummary,
  formatTarget,
  jobExitCode,
} from '../format.ts';
import {
  buildJobCreate,
  interpreterFromShebang,
  parseAssignments,
  refuseWithLibraryScript,
  type RunFlags,
} from '../parse-args.ts';
import { parseRolloutFlags } from '../rollout-flags.ts';
import { bindParamFlags } from '../script-params.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';
import { runsListSchema } from './jobs.ts';
import { nodeListSchema } from './nodes.ts';
import { fetchScript, parseScriptName, parseVersion } from './scripts.ts';

interface RunCliFlags {
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
  json?: boolean;
  raw?: boolean;
  detach?: boolean;
  onlineOnly?: boolean;
  waves?: string;
  maxFailureRate?: string;
  wavePause?: string;
  approve?: boolean;
}

export function addRunVerb(program: Command, terminal: Terminal): void {
  program
    .command('run')
    .description('run a command on nodes and stream every node’s output live')
    .argument('[command...]', 'the command, after --; the words are joined and run by /bin/sh -c, as ssh does')
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
    .option('--merge-stderr', 'send stderr into stdout (as 2>&1): one stream, in the exact order the run wrote it')
    .option('--json', 'print no live output, then the job and its runs as JSON (the API’s JobDto and RunDto)')
    .option('--raw', 'write the exact output bytes even to a terminal (control characters are escaped otherwise)')
    .option('-d, --detach', 'print the job id on stdout and return at once; the job runs on')
    .addHelpText(
      'after',
      `
Output: each line is prefixed with its node in a stable colour (no prefix with one --node);
stderr of the nodes goes to stderr. The job id, the targets that are offline (and how long
their runs wait for them), the progress line and the summary go to stderr.
Exit status: 0 if every run succeeded, 2 if any did not, 130 after Ctrl-C cancelled the job,
3 after detaching; 64 bad usage, 66 no such node / no node matches, 69 master unreachable,
77 not logged in or not allowed. Ctrl-C asks whether to cancel the job or detach
(without a terminal it cancels; a second Ctrl-C stops waiting).
${examples(
  'edgestelle run --all -- uptime',
  'edgestelle run --tag site=berlin --tag role=gateway -- systemctl restart collector',
  "edgestelle run --node edge-01 -- 'journalctl -u collector -n 50 | grep -i error'",
  'edgestelle run --all --concurrency 10% --max-failures 2 --timeout 5m -- apt-get -y upgrade',
  'edgestelle run --all --waves 1,10%,100% --max-failure-rate 5% --wave-pause 2m -- apt-get -y upgrade',
  'edgestelle run --tag role=gateway --waves 1,100% --approve --script restart-unit --param unit=collector',
  'edgestelle run --all --online-only -- systemctl is-active collector',
  'JOB=$(edgestelle run --tag site=berlin --detach -- apt-get -y upgrade); edgestelle logs "$JOB" --follow',
  'edgestelle run --tag role=db --file ./backup.sh -- --full',
  'edgestelle run --tag role=db --secret-env PGPASSWORD -- pg_dump -U app -f /tmp/app.sql app',
  'edgestelle run --tag site=berlin --script restart-unit --param unit=collector --param lines=50',
  'edgestelle run --node edge-01 --script restart-unit --version 3 --param unit=ntp',
  'edgestelle run --all --json -- cat /etc/machine-id | jq -r ".runs[] | .nodeId + \\" \\" + .state"',
)}`,
    )
    .action(async (command: string[], flags: RunCliFlags) => {
      process.exitCode = await runCommand(terminal, command, flags);
    });
}

async function runCommand(terminal: Terminal, command: string[], flags: RunCliFlags): Promise<number> {
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
  const request = buildJobCreate(runFlags);
  connection ??= await connect(terminal.env);
  // A Ctrl-C while the job is being created must not leave it running unseen: remember it,
  // and cancel the job as soon as it exists.
  let interruptedEarly = false;
  const onEarlySigint = (): void => {
    interruptedEarly = true;
  };
  process.on('SIGINT', onEarlySigint);
  const job = await connection.api
    .post('/api/v1/jobs', jobDtoSchema, request)
    .finally(() => {
      process.off('SIGINT', onEarlySigint);
    })
    .catch((err: unknown) => {
      // The master says "matches no node" (or none online); the operator wants to see which target that was.
      if (err instanceof CliError && (err.apiCode === 'no_matching_nodes' || err.apiCode === 'no_online_nodes')) {
        const message =
          err.apiCode === 'no_online_nodes'
            ? `no node matching ${formatTarget(request.target)} is online; without --online-only the job waits for them`
            : `0 nodes match ${formatTarget(request.target)}`;
        throw new CliError(err.code, message, {
          cause: err,
          apiCode: err.apiCode,
        });
      }
      throw err;
    });
  terminal.stderr.write(await describeStart(connection, job));
  if (flags.detach === true) {
    terminal.stdout.write(`${job.jobId}\n`);
    return ExitCode.ok;
  }
  const single = 'nodeIds' in request.target && request.target.nodeIds.length === 1;
  const following = followOutput(
    terminal,
    connection,
    { jobId: job.jobId },
    {
      showOutput: flags.json !== true,
      prefixed: !single,
      raw: flags.raw === true,
      progress: true,
      nodeCount: job.nodeCount,
    },
  );
  const interrupt = new RunInterrupt(terminal, connection, job, following);
  process.on('SIGINT', interrupt.onSigint);
  if (interruptedEarly) interrupt.cancel();
  let outcome: Outcome;
  try {
    outcome = await Promise.race([
      following.result.then((result) => ({ kind: 'ended' as const, ...result })),
      interrupt.stopped,
    ]);
  } catch (err) {
    // The job exists and goes on without us: say where to find it.
    if (!(err instanceof CliError)) throw err;
    throw new CliError(
      err.code,
      `${err.message} (job ${job.jobId} was started: edgestelle logs ${job.jobId} --follow)`,
      {
        cause: err,
      },
    );
  } finally {
    process.off('SIGINT', interrupt.onSigint);
    following.status.clear();
  }
  if (outcome.kind === 'detached') {
    terminal.stderr.write(
      `Detached; job ${job.jobId} keeps running. Follow it with: edgestelle logs ${job.jobId} --follow\n`,
    );
    return ExitCode.detached;
  }
  if (outcome.kind === 'abandoned') {
    terminal.stderr.write(`Stopped waiting; job ${job.jobId} is being cancelled. See: edgestelle jobs ${job.jobId}\n`);
    return ExitCode.interrupted;
  }
  if (flags.json === true) printJson(terminal, { job: outcome.job, runs: outcome.runs });
  else terminal.stderr.write(`\n${formatRunSummary(outcome.runs)}\n${formatCounts(countRunStates(outcome.runs))}\n`);
  return interrupt.cancelled ? ExitCode.interrupted : jobExitCode(outcome.runs);
}

/**
 * What the operator should know before output starts: the job id, and which targets are
 * offline: left out (online-only), or waited for until the job's deadline.
 */
async function describeStart(connection: Connection, job: JobDto): Promise<string> {
  const lines = [`Job ${job.jobId} on ${job.nodeCount} node${job.nodeCount === 1 ? '' : 's'}.`];
  if (job.leftOutNodeIds.length > 0) {
    lines.push(`Left out ${formatNodeList(job.leftOutNodeIds)}: offline, and the job is online-only.`);
  }
  // Every run that could start did so before the job was returned: queued ones wait for their
  // node (or, with --concurrency, for a slot).
  if (job.counts.queued > 0) {
    const [offline, runs] = await Promise.all([
      connection.api.get('/api/v1/nodes', nodeListSchema, { online: false }),
      connection.api.get(`/api/v1/jobs/${job.jobId}/runs`, runsListSchema),
    ]);
    const offlineIds = new Set(offline.items.map((node) => node.nodeId));
    const waiting = runs.items.filter((run) => run.state === 'queued' && offlineIds.has(run.nodeId));
    if (waiting.length > 0) {
      lines.push(
        `${formatNodeList(waiting.map((run) => run.nodeId))} offline: waiting up to ${formatDuration(job.deadlineAt - job.createdAt)} for ${waiting.length === 1 ? 'it' : 'them'} (--online-only leaves offline nodes out).`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `3 nodes (edge-1, edge-2, edge-3)`, at most ten ids named. */
function formatNodeList(nodeIds: readonly string[]): string {
  const named = nodeIds.slice(0, 10).join(', ') + (nodeIds.length > 10 ? `, … ${nodeIds.length - 10} more` : '');
  return `${nodeIds.length} node${nodeIds.length === 1 ? '' : 's'} (${named})`;
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

type Outcome = { kind: 'ended'; job: JobDto | null; runs: RunDto[] } | { kind: 'detached' } | { kind: 'abandoned' };

/**
 * Ctrl-C during `run`: on a terminal it asks once — cancel the job, detach from it, or keep
 * watching; without one (scripts, CI) it cancels. A Ctrl-C while cancelling stops waiting.
 */
class RunInterrupt {
  cancelled = false;
  private asking = false;
  private stop: ((outcome: Outcome) => void) | null = null;
  readonly stopped: Promise<Outcome>;

  constructor(
    private readonly terminal: Terminal,
    private readonly connection: Connection,
    private readonly job: JobDto,
    private readonly following: Following,
  ) {
    this.stopped = new Promise((resolve) => {
      this.stop = resolve;
    });
  }

  readonly onSigint = (): void => {
    if (this.cancelled || this.asking) {
      this.end({ kind: 'abandoned' });
      return;
    }
    if (!this.terminal.stdinIsTty) {
      this.cancel();
      return;
    }
    void this.ask();
  };

  private async ask(): Promise<void> {
    this.asking = true;
    const { stdin, stderr } = this.terminal;
    let key = '';
    this.following.status.around(() =>
      stderr.write(
        `\nCtrl-C: [c]ancel job ${this.job.jobId}, [d]etach (it keeps running), any other key: keep watching? `,
      ),
    );
    stdin.setRawMode(true);
    stdin.resume();
    try {
      const chunks: unknown[] = await once(stdin, 'data');
      const data = chunks[0];
      key = Buffer.isBuffer(data) ? data.toString('utf8') : typeof data === 'string' ? data : '';
    } finally {
      stdin.setRawMode(false);
      stdin.pause();
      this.asking = false;
    }
    stderr.write('\n');
    // In raw mode a second Ctrl-C arrives as a byte, not a signal: it means "cancel".
    if (key === 'c' || key === 'C' || key === '\u0003') this.cancel();
    else if (key === 'd' || key === 'D') this.end({ kind: 'detached' });
  }

  cancel(): void {
    this.cancelled = true;
    this.following.status.around(() =>
      this.terminal.stderr.write(`Cancelling job ${this.job.jobId}… (Ctrl-C again to stop waiting)\n`),
    );
    this.connection.api.post(`/api/v1/jobs/${this.job.jobId}/cancel`, jobDtoSchema).catch((err: unknown) => {
      this.terminal.stderr.write(
        `edgestelle: could not cancel job ${this.job.jobId}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      this.end({ kind: 'detached' });
    });
  }

  private end(outcome: Outcome): void {
    this.following.stop();
    this.stop?.(outcome);
  }
}
