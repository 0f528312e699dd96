import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { Terminal, type IDisposable } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import type { ChunkDto } from '@edgestelle/protocol';
import { onBeforeUnmount, onMounted, ref, watch, type Ref } from 'vue';
import { theme } from '../ui/theme.ts';
import { terminalBytes } from './chunk-bytes.ts';
import { openExternalLink } from './link-policy.ts';
import { terminalThemes } from './terminal-themes.ts';

/** Past this many chunks held while paused, the pane catches up anyway: memory stays bounded. */
const PAUSE_MAX_CHUNKS = 5_000;
const SCROLLBACK_LINES = 100_000;

export interface LogTerminal {
  /** Renders one chunk now, or queues it while paused. */
  write(chunk: Pick<ChunkDto, 'stream' | 'data'>): void;
  following: Ref<boolean>;
  /** Chunks waiting while paused. */
  pending: Ref<number>;
  setFollowing(follow: boolean): void;
  findNext(term: string): boolean;
  findPrevious(term: string): boolean;
  /** The whole buffer as plain text, one line per row, trailing blank rows dropped. */
  text(): string;
  /**
   * Once everything written so far is on screen, scrolls so output line `lineNo` (1-based,
   * wrapped rows counted with their line) is near the top, and selects it.
   */
  revealLine(lineNo: number): void;
}

/** Rows of context shown above a revealed line. */
const REVEAL_CONTEXT_ROWS = 3;

const openLink = (_event: MouseEvent, uri: string): void => {
  openExternalLink(uri, (url, target, features) => window.open(url, target, features));
};

/**
 * Owns one xterm instance inside `container`: created on mount, every addon, listener and
 * observer disposed on unmount. Input is disabled and never read: what an operator types
 * here goes nowhere.
 */
export function useLogTerminal(container: Ref<HTMLElement | null>): LogTerminal {
  let terminal: Terminal | null = null;
  let search: SearchAddon | null = null;
  const disposables: IDisposable[] = [];
  const queue: Uint8Array[] = [];
  const following = ref(true);
  const pending = ref(0);

  onMounted(() => {
    const element = container.value;
    if (element === null) return;
    const term = new Terminal({
      disableStdin: true,
      convertEol: true,
      cursorBlink: false,
      cursorInactiveStyle: 'none',
      scrollback: SCROLLBACK_LINES,
      fontFamily: 'ui-monospace, "JetBrains Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      lineHeight: 1.15,
      theme: terminalThemes[theme.value],
      // OSC 8 hyperlinks go through the same gate as detected URLs.
      linkHandler: { activate: openLink, allowNonHttpProtocols: false },
    });
    const fit = new FitAddon();
    search = new SearchAddon();
    term.loadAddon(fit);
    term.loadAddon(search);
    term.loadAddon(new WebLinksAddon(openLink));
    term.open(element);
    fit.fit();
    terminal = term;

    const resize = new ResizeObserver(() => fit.fit());
    resize.observe(element);
    disposables.push({ dispose: () => resize.disconnect() });
    disposables.push(term);
    // Read-only view of the buffer for the copy button and for browser tests.
    Object.defineProperty(element, 'readTerminalText', { value: text, configurable: true });
    disposables.push({ dispose: () => Reflect.deleteProperty(element, 'readTerminalText') });
  });

  watch(theme, (name) => {
    if (terminal !== null) terminal.options.theme = terminalThemes[name];
  });

  onBeforeUnmount(() => {
    for (const disposable of disposables.splice(0).reverse()) disposable.dispose();
    terminal = null;
    search = null;
    queue.length = 0;
  });

  function write(chunk: Pick<ChunkDto, 'stream' | 'data'>): void {
    const bytes = terminalBytes(chunk);
    if (following.value || queue.length >= PAUSE_MAX_CHUNKS) {
      flush();
      terminal?.write(bytes);
      return;
    }
    queue.push(bytes);
    pending.value = queue.length;
  }

  function flush(): void {
    for (const bytes of queue.splice(0)) terminal?.write(bytes);
    pending.value = 0;
  }

  function setFollowing(follow: boolean): void {
    following.value = follow;
    if (follow) {
      flush();
      terminal?.scrollToBottom();
    }
  }

  function text(): string {
    if (terminal === null) return '';
    const buffer = terminal.buffer.active;
    const lines: string[] = [];
    for (let row = 0; row < buffer.length; row += 1) {
      const line = buffer.getLine(row);
      if (line === undefined) continue;
      // A wrapped row continues the line above it.
      if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += line.translateToString(true);
      else lines.push(line.translateToString(true));
    }
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n');
  }

  function revealLine(lineNo: number): void {
    const term = terminal;
    // An empty write calls back after every earlier write is parsed.
    term?.write('', () => {
      const buffer = term.buffer.active;
      let line = 0;
      for (let row = 0; row < buffer.length; row += 1) {
        if (buffer.getLine(row)?.isWrapped === true) continue;
        line += 1;
        if (line < lineNo) continue;
        let end = row;
        while (buffer.getLine(end + 1)?.isWrapped === true) end += 1;
        term.scrollToLine(Math.max(0, row - REVEAL_CONTEXT_ROWS));
        term.selectLines(row, end);
        return;
      }
    });
  }

  return {
    write,
    revealLine,
    following,
    pending,
    setFollowing,
    findNext: (term) => search?.findNext(term) ?? false,
    findPrevious: (term) => search?.findPrevious(term) ?? false,
    text,
  };
}
