import { readdir, readFile } from 'node:fs/promises';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Browser extends AsyncDisposable {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors (failed resource loads and policy violations excepted). */
  errors: string[];
  /**
   * Every Content-Security-Policy violation any page of the context reported: its
   * `securitypolicyviolation` events and the browser's "Refused to …" console lines.
   */
  violations: string[];
}

/** Installed before any script of a page runs, so no violation escapes it. */
const RECORD_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (event) => {
  window.__edgestelleCspViolation(event.effectiveDirective + ' blocked ' + (event.blockedURI || '(inline)') + ' at ' + (event.sourceFile || document.location.href) + ':' + event.lineNumber);
}, true);`;

/** Debian's Chromium with a fresh profile in `userDataDir`; never a downloaded browser. */
export async function launchBrowser(userDataDir: string): Promise<Browser> {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    colorScheme: 'dark',
  });
  const violations: string[] = [];
  await context.exposeBinding('__edgestelleCspViolation', (_source, text: unknown) => violations.push(String(text)));
  await context.addInitScript(RECORD_VIOLATIONS);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    // A 401 answered to a wrong password, or an upgrade refused to an ended session, is the
    // browser's own log line, not an error of the console.
    const text = message.text();
    if (/Content Security Policy|^Refused to /.test(text)) {
      violations.push(text);
      return;
    }
    const browserLog = text.startsWith('Failed to load resource') || /^WebSocket connection to .* failed/.test(text);
    if (message.type() === 'error' && !browserLog) errors.push(text);
  });
  return {
    context,
    page,
    errors,
    violations,
    async [Symbol.asyncDispose]() {
      await context.close();
      await killLeftovers(userDataDir);
    },
  };
}

/**
 * A persistent context exposes no browser PID; every Chromium process of this profile names
 * the unique profile folder on its command line, so stragglers are found and ended by PID.
 */
async function killLeftovers(userDataDir: string): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // the process ended while we looked
    }
    if (cmdline.includes(`--user-data-dir=${userDataDir}`)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'ESRCH')) throw err;
      }
    }
  }
}
