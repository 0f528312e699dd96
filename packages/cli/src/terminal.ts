import type { OutputWrite } from './output-renderer.ts';
import { wantsColour } from './style.ts';

/** The process's streams as the verbs use them; one place decides what counts as a terminal. */
export interface Terminal {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
  stdinIsTty: boolean;
  colour: boolean;
}

export function processTerminal(): Terminal {
  const stdoutIsTty = process.stdout.isTTY;
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    stdoutIsTty,
    stderrIsTty: process.stderr.isTTY,
    stdinIsTty: process.stdin.isTTY,
    colour: wantsColour(stdoutIsTty, process.env),
  };
}

export function writeOutput(terminal: Terminal, writes: readonly OutputWrite[]): void {
  for (const write of writes) (write.to === 'stdout' ? terminal.stdout : terminal.stderr).write(write.data);
}

export function printJson(terminal: Terminal, value: unknown): void {
  terminal.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const CLEAR_LINE = '\r\x1b[2K';
const REDRAW_MS = 100;

/**
 * The one-line progress display at the bottom of a terminal (stderr), redrawn at most every
 * 100 ms. Output is written with the line cleared first, so it never lands inside it.
 * Does nothing when stderr is not a terminal.
 */
export class StatusLine {
  private text = '';
  private shown = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  update(text: string): void {
    this.text = text;
    if (!this.enabled || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.draw();
    }, REDRAW_MS);
  }

  /** Runs `write` with the status line out of the way, then puts it back. */
  around(write: () => void): void {
    if (this.shown) {
      this.stream.write(CLEAR_LINE);
      this.shown = false;
    }
    write();
    if (this.enabled && this.timer === null) this.draw();
  }

  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.shown) this.stream.write(CLEAR_LINE);
    this.shown = false;
  }

  private draw(): void {
    if (!this.enabled || this.text === '') return;
    const width = this.stream.columns > 1 ? this.stream.columns - 1 : 79;
    this.stream.write(`${CLEAR_LINE}${this.text.slice(0, width)}`);
    this.shown = true;
  }
}
