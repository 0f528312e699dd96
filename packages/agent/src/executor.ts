import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunOutcome, RunSpec } from '@edgestelle/protocol';
import type { Logger } from 'pino';
import { AgentError, AgentErrorCode } from './errors.ts';
import { peakRssBytes, signalGroup } from './process-group.ts';
import { loadPty } from './pty.ts';
import type { PtyKind, PtySpawner } from './pty-spawner.ts';
import { lookupUser, type UserAccount } from './user-lookup.ts';

export interface ExecutionRequest {
  readonly runId: string;
  readonly jobId: string;
  readonly spec: RunSpec;
}

export interface ExecutionResult {
  outcome: RunOutcome;
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  endedAt: number;
  peakRssBytes: number | null;
  reason?: string;
}

export interface ExecutionHandlers {
  onOutput(stream: 'stdout' | 'stderr', data: Buffer): void;
  onExit(result: ExecutionResult): void;
}

export interface Execution {
  readonly pid: number;
  readonly startedAt: number;
  /** TERM to the process group, KILL after the run's grace period. Idempotent. */
  stop(outcome: 'cancelled' | 'timed_out' | 'interrupted'): void;
}

export interface ExecutorOptions {
  logger: Logger;
  now?: () => number;
  /** Where private run folders are made; the OS temp dir by default. */
  tempRoot?: string;
  /** How often the leader's peak RSS is read from /proc. */
  rssPollMs?: number;
  /** Finds this node's PTY support; injectable so a test can stand for a node without it, or force script(1). */
  loadPty?: () => Promise<PtySpawner | undefined>;
  /** Named in refusals an operator reads among many nodes' runs. */
  nodeId?: string;
}

export type Refusal = { code: 'pty_unavailable' | 'run_as_unavailable' | 'cwd_missing'; reason: string };

/** What the agent needs from an executor: `Executor` here, a non-forking one in the fleet benchmark. */
export type RunExecutor = Pick<Executor, 'pty' | 'ptyKind' | 'runAsAvailable' | 'refuse' | 'start'>;

/** Variables of the agent itself (its node key among them) never reach a script. */
function scriptEnvironment(request: ExecutionRequest, user: UserAccount | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('EDGESTELLE_')) env[name] = value;
  }
  if (user !== undefined)
    Object.assign(env, { HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: user.shell });
  return { ...env, ...request.spec.env, EDGESTELLE_RUN_ID: request.runId, EDGESTELLE_JOB_ID: request.jobId };
}

/**
 * Runs one process per run: a script body written to a private folder (0700) and run by its
 * interpreter, or a command through `/bin/sh -c` with the args as `$1…`. The process leads
 * its own group, so stopping it reaches every child and grandchild. When the leader exits,
 * whatever it left behind in its group gets TERM and, after the grace period, KILL.
 * Peak RSS is the leader's VmHWM, read from /proc while it runs (children are not counted).
 */
export class Executor {
  private readonly now: () => number;
  private ptySpawner: Promise<PtySpawner | undefined> | undefined;

  constructor(private readonly options: ExecutorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** How PTY runs are possible here, if at all; found once. */
  async ptyKind(): Promise<PtyKind | 'none'> {
    return (await this.pty())?.kind ?? 'none';
  }

  runAsAvailable(): boolean {
    return process.getuid?.() === 0;
  }

  /** Why this node cannot run the spec at all, checked before the run is accepted. */
  async refuse(spec: RunSpec): Promise<Refusal | undefined> {
    if (spec.pty && (await this.pty()) === undefined) {
      return {
        code: 'pty_unavailable',
        reason: 'this agent has no PTY support: @lydell/node-pty did not load and script(1) from util-linux is missing',
      };
    }
    if (spec.cwd !== undefined) {
      const problem = await cwdProblem(spec.cwd);
      // spawn() would only say `spawn /bin/sh ENOENT`, as if the shell were missing.
      if (problem !== undefined) {
        return {
          code: 'cwd_missing',
          reason: `working directory ${spec.cwd} ${problem} on node ${this.options.nodeId ?? 'here'}`,
        };
      }
    }
    if (spec.runAs !== undefined) {
      if (!this.runAsAvailable()) {
        return { code: 'run_as_unavailable', reason: `runAs '${spec.runAs}' needs the agent to run as root` };
      }
      if (lookupUser(spec.runAs) === undefined) {
        return { code: 'run_as_unavailable', reason: `user '${spec.runAs}' is not in /etc/passwd on this node` };
      }
    }
    return undefined;
  }

  async start(request: ExecutionRequest, handlers: ExecutionHandlers): Promise<Execution> {
    const { spec } = request;
    const user = spec.runAs === undefined ? undefined : lookupUser(spec.runAs);
    if (spec.runAs !== undefined && user === undefined) {
      throw new AgentError(AgentErrorCode.runAsUnavailable, `user '${spec.runAs}' is not in /etc/passwd on this node`);
    }
    const dir = await mkdtemp(join(this.options.tempRoot ?? tmpdir(), 'edgestelle-run-'));
    await chmod(dir, 0o700);
    let file: string;
    let args: string[];
    if (spec.script !== undefined) {
      const scriptPath = join(dir, 'script');
      await writeFile(scriptPath, spec.script.body, { mode: 0o700 });
      if (user !== undefined) await chown(scriptPath, user.uid, user.gid);
      file = spec.script.interpreter;
      args = [scriptPath, ...spec.args];
    } else {
      file = '/bin/sh';
      args = ['-c', spec.command ?? '', 'edgestelle-run', ...spec.args];
    }
    if (spec.mergeStderr === true && !spec.pty) {
      // A shell that points its stderr at its stdout and becomes the run: one pipe, one order.
      args = ['-c', 'exec "$@" 2>&1', 'edgestelle-run', file, ...args];
      file = '/bin/sh';
    }
    if (user !== undefined) await chown(dir, user.uid, user.gid);
    const env = scriptEnvironment(request, user);
    const cwd = spec.cwd ?? dir;
    const cleanup = (): void => {
      rm(dir, { recursive: true, force: true }).catch((err: unknown) =>
        this.options.logger.warn({ err, dir }, 'could not remove a run folder'),
      );
    };
    try {
      if (spec.pty) return await this.startPty(request, handlers, { file, args, env, cwd, user, cleanup });
      return await this.startPipes(request, handlers, { file, args, env, cwd, user, cleanup });
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  /** The PTY spawner of this node, for runs and shell sessions alike; found once. */
  pty(): Promise<PtySpawner | undefined> {
    this.ptySpawner ??= (this.options.loadPty ?? (() => loadPty(this.options.logger)))();
    return this.ptySpawner;
  }

  private async startPipes(request: ExecutionRequest, handlers: ExecutionHandlers, launch: Launch): Promise<Execution> {
    const child: ChildProcess = spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env: launch.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(launch.user === undefined ? {} : { uid: launch.user.uid, gid: launch.user.gid }),
    });
    const pid = child.pid;
    if (pid === undefined) {
      const cause = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new AgentError(AgentErrorCode.spawnFailed, `cannot start ${launch.file}: ${cause.message}`, { cause });
    }
    const tracker = new RunTracker(
      pid,
      (signal) => signalGroup(pid, signal),
      request.spec,
      this.now,
      handlers,
      launch.cleanup,
      this.options,
    );
    child.stdout?.on('data', (data: Buffer) => handlers.onOutput('stdout', data));
    child.stderr?.on('data', (data: Buffer) => handlers.onOutput('stderr', data));
    child.once('exit', (code, signal) => tracker.leaderExited(code, signal));
    child.once('close', () => tracker.outputClosed());
    child.on('error', (err) => this.options.logger.warn({ err, runId: request.runId }, 'run process error'));
    return tracker;
  }

  private async startPty(request: ExecutionRequest, handlers: ExecutionHandlers, launch: Launch): Promise<Execution> {
    const pty = await this.pty();
    if (pty === undefined) throw new AgentError(AgentErrorCode.ptyUnavailable, 'this agent has no PTY support');
    let term;
    try {
      term = pty.spawn(launch.file, launch.args, {
        cols: 120,
        rows: 40,
        cwd: launch.cwd,
        env: launch.env,
        ...(launch.user === undefined ? {} : { uid: launch.user.uid, gid: launch.user.gid }),
      });
    } catch (cause) {
      throw new AgentError(AgentErrorCode.spawnFailed, `cannot start ${launch.file} on a PTY`, { cause });
    }
    const tracker = new RunTracker(
      term.pid,
      (signal) => term.signal(signal),
      request.spec,
      this.now,
      handlers,
      launch.cleanup,
      this.options,
    );
    term.onData((data) => handlers.onOutput('stdout', data));
    term.onExit(({ code, signal }) => {
      tracker.leaderExited(code, signal);
      tracker.outputClosed();
    });
    return tracker;
  }
}

/** Why `cwd` cannot be a run's working directory, or undefined when it can be tried. */
async function cwdProblem(cwd: string): Promise<string | undefined> {
  try {
    return (await stat(cwd)).isDirectory() ? undefined : 'is not a directory';
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? err.code : undefined;
    if (code === 'ENOENT') return 'does not exist';
    if (code === 'ENOTDIR') return 'is not a directory';
    // EACCES and the like: the run's own user may still get in (runAs); spawn says if not.
    return undefined;
  }
}

interface Launch {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  user: UserAccount | undefined;
  cleanup: () => void;
}

/** One running process group: its timers, its stop, and its result once both exit and output are done. */
class RunTracker implements Execution {
  readonly startedAt: number;
  private stopOutcome: 'cancelled' | 'timed_out' | 'interrupted' | undefined;
  private exit: { code: number | null; signal: string | null } | undefined;
  private closed = false;
  private finished = false;
  private peakRss: number | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private killTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    /** Signals the run's process groups; false once they are all gone. */
    private readonly signal: (signal: NodeJS.Signals | 0) => boolean,
    private readonly spec: RunSpec,
    private readonly now: () => number,
    private readonly handlers: ExecutionHandlers,
    private readonly cleanup: () => void,
    private readonly options: ExecutorOptions,
  ) {
    this.startedAt = now();
    this.timers.push(setTimeout(() => this.stop('timed_out'), spec.timeoutMs));
    const pollRss = (): void => {
      peakRssBytes(pid).then(
        (bytes) => {
          if (bytes !== undefined) this.peakRss = Math.max(this.peakRss ?? 0, bytes);
        },
        (err: unknown) => options.logger.debug({ err, pid }, 'cannot read peak RSS'),
      );
    };
    pollRss();
    const poller = setInterval(pollRss, options.rssPollMs ?? 250);
    poller.unref();
    this.timers.push(poller);
  }

  stop(outcome: 'cancelled' | 'timed_out' | 'interrupted'): void {
    if (this.stopOutcome !== undefined || this.finished) return;
    this.stopOutcome = outcome;
    this.terminateGroup();
  }

  leaderExited(code: number | null, signal: string | null): void {
    this.exit = { code, signal };
    // Anything the script left running in its group is ended with it.
    this.terminateGroup();
    this.maybeFinish();
  }

  outputClosed(): void {
    this.closed = true;
    this.maybeFinish();
  }

  private terminateGroup(): void {
    if (this.killTimer !== undefined) return;
    if (!this.signal('SIGTERM')) return;
    this.killTimer = setTimeout(() => this.signal('SIGKILL'), this.spec.killGraceMs);
  }

  private maybeFinish(): void {
    if (this.finished || this.exit === undefined || !this.closed) return;
    this.finished = true;
    for (const timer of this.timers) clearTimeout(timer);
    // The kill timer stays armed: it still ends stragglers that ignore TERM, then stops by itself.
    if (this.killTimer !== undefined && !this.signal(0)) clearTimeout(this.killTimer);
    this.cleanup();
    const { code, signal } = this.exit;
    const outcome: RunOutcome = this.stopOutcome ?? (code === 0 ? 'succeeded' : 'failed');
    const reason =
      this.stopOutcome === 'timed_out'
        ? `timed out after ${this.spec.timeoutMs} ms`
        : this.stopOutcome === 'cancelled'
          ? 'cancelled'
          : undefined;
    this.handlers.onExit({
      outcome,
      exitCode: code,
      signal,
      startedAt: this.startedAt,
      endedAt: this.now(),
      peakRssBytes: this.peakRss,
      ...(reason === undefined ? {} : { reason }),
    });
  }
}
