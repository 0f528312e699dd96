import { isTerminalRunState, runStateSchema } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { confirmDialog, evaluate, login, logout, readPanes, screenshot, waitForPanes } from './harness/console-page.ts';
import { ADMIN, VIEWER, startConsoleStack } from './harness/stack.ts';

/**
 * The console in real Chromium against a real master with two real agents: everything an
 * operator does, read back from the xterm buffers and the DOM.
 */

let stack: InProcessMaster;
let profile: TempDir;
let browser: Browser;
let page: Page;
/** The job of the coloured script, for the light-theme screenshot. */
let colouredJobPath = '';

beforeAll(async () => {
  stack = await startConsoleStack(['edge-1', 'edge-2']);
  profile = await tempDir('edgestelle-chromium-');
  browser = await launchBrowser(profile.path);
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await browser?.[Symbol.asyncDispose]();
  await profile?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
});

// Every page a test visits runs under the master's Content-Security-Policy without breaking it.
afterEach(() => {
  expect(browser.violations.splice(0)).toEqual([]);
});

const TEST_TIMEOUT_MS = 90_000;

/**
 * Waits, bounded, for one refusal to be reported both ways (its `securitypolicyviolation` event
 * and the browser's console line, each naming the directive), then clears the record.
 */
async function refusalReported(directive: RegExp): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (browser.violations.filter((v) => directive.test(v)).length < 2 && Date.now() < deadline) {
    await page.waitForTimeout(50);
  }
  expect(browser.violations.filter((v) => directive.test(v))).toHaveLength(2);
  browser.violations.length = 0;
}

async function openJob(jobId: string, query = ''): Promise<void> {
  await page.goto(`${stack.url}/jobs/${jobId}${query}`);
  await page.getByTestId('job-title').waitFor();
}

async function tileState(nodeId: string): Promise<string | null> {
  return page.locator(`[data-testid=run-tile][data-node-id="${nodeId}"]`).getAttribute('data-state');
}

async function waitForTile(nodeId: string, done: (state: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await tileState(nodeId);
    if (state !== null && done(state)) return state;
    if (Date.now() > deadline) throw new Error(`run on ${nodeId} stayed ${String(state)}`);
    await page.waitForTimeout(100);
  }
}

describe('web console', () => {
  it(
    'sends a visitor to the login page and back to where they were going',
    async () => {
      await page.goto(`${stack.url}/history`);
      await page.waitForURL((url) => url.pathname === '/login');
      expect(new URL(page.url()).searchParams.get('redirect')).toBe('/history');
      await screenshot(page, '01-login');

      await page.locator('input[name=username]').fill(ADMIN.username);
      await page.locator('input[name=password]').fill('wrong-password');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('login-error').waitFor();

      await page.locator('input[name=password]').fill(ADMIN.password);
      await page.getByTestId('login-submit').click();
      await page.waitForURL((url) => url.pathname === '/history');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serves the console and the API docs under a policy that refuses inline script and other origins',
    async () => {
      const response = await page.goto(`${stack.url}/fleet`);
      expect(response?.headers()['content-security-policy'] ?? '(none)').toContain("script-src 'self'");
      expect(response?.headers()['x-frame-options']).toBe('DENY');
      await page.locator('[data-testid=node-row]').first().waitFor();

      // The recorder hears what the policy refuses: an injected inline script does not run.
      await page.evaluate(
        `document.body.append(Object.assign(document.createElement('script'), { textContent: 'window.__inline = 1' }))`,
      );
      await refusalReported(/script-src/);
      expect(await evaluate(page, `typeof window.__inline`, z.string())).toBe('undefined');

      // connect-src 'self' lets the page open the live hub on its own origin (ws:), and no other.
      const opened = await evaluate(
        page,
        `new Promise((resolve) => {
          const socket = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/v1/live');
          socket.onopen = () => { socket.close(); resolve('open'); };
          socket.onerror = () => resolve('error');
        })`,
        z.string(),
      );
      expect(opened).toBe('open');
      expect(browser.violations).toEqual([]);
      await page.evaluate(`new WebSocket('ws://127.0.0.2:9/')`);
      await refusalReported(/connect-src/);

      // The OpenAPI page (Swagger UI) renders under the same policy.
      const docs = await page.goto(`${stack.url}/api/docs`);
      expect(docs?.headers()['content-security-policy'] ?? '(none)').toContain("default-src 'none'");
      await page.locator('.swagger-ui .info .title', { hasText: 'EdgeStelle master API' }).waitFor();
      await page.locator('.opblock').nth(20).waitFor();
      await screenshot(page, '01b-api-docs');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows both nodes online in the fleet',
    async () => {
      await page.goto(`${stack.url}/fleet`);
      await page.locator('[data-testid=node-row]').nth(1).waitFor();
      await page.waitForFunction(
        `[...document.querySelectorAll('[data-testid=node-status]')].filter((dot) => dot.classList.contains('online')).length === 2`,
        undefined,
        { timeout: 30_000 },
      );
      const ids = await evaluate(
        page,
        `[...document.querySelectorAll('[data-testid=node-row]')].map((row) => row.dataset.nodeId)`,
        z.array(z.string()),
      );
      expect(ids).toEqual(['edge-1', 'edge-2']);
      expect(await page.getByTestId('fleet-counts').textContent()).toContain('2 online · 0 offline');
      await screenshot(page, '02-fleet');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'runs a script printing coloured lines on both nodes and shows them in two terminals',
    async () => {
      await page.getByText('Select all 2 matching').click();
      await page.getByTestId('run-selected').click();
      await page.waitForURL((url) => url.pathname === '/run');
      await page.locator('.el-radio-button', { hasText: 'Script' }).click();
      await page
        .locator('[data-testid=run-script] textarea, textarea[data-testid=run-script]')
        .fill(
          [
            'for i in 1 2 3; do',
            '  printf \'\\033[32mok %d\\033[0m \\033[1;34mblue\\033[0m\\n\' "$i"',
            'done',
            'echo "warning on stderr" >&2',
          ].join('\n'),
        );
      expect(await page.getByTestId('run-matching').textContent()).toContain('2 matching · 2 online');
      // A tag expression counts its matching nodes as it is typed.
      await page.locator('.el-radio-button', { hasText: 'Tags' }).click();
      await page.getByPlaceholder('role=edge site=berlin').fill('role=edge site=e2e');
      expect(await page.getByTestId('run-matching').textContent()).toContain('1 matching · 1 online');
      await page.locator('.el-radio-button', { hasText: 'Selected nodes' }).click();
      await screenshot(page, '03-run');
      await page.getByTestId('run-submit').click();
      await confirmDialog(page);
      await page.waitForURL((url) => url.pathname.startsWith('/jobs/'));

      const jobPath = new URL(page.url()).pathname;
      colouredJobPath = jobPath;
      await page.goto(`${stack.url}${jobPath}?layout=side`);
      const panes = await waitForPanes(
        page,
        (all) => all.length === 2 && all.every((pane) => pane.text.includes('warning on stderr')),
      );
      for (const pane of panes) {
        expect(pane.text.split('\n').filter((line) => line.startsWith('ok '))).toEqual([
          'ok 1 blue',
          'ok 2 blue',
          'ok 3 blue',
        ]);
      }
      expect(panes.map((pane) => pane.label).sort()).toEqual(['edge-1', 'edge-2']);
      // Colours survive: green and bold blue cells from the script, bright red for stderr.
      const classes = await evaluate(
        page,
        `[...document.querySelectorAll('[data-testid=terminal] .xterm-rows span')].map((span) => span.className + '|' + span.textContent)`,
        z.array(z.string()),
      );
      expect(classes.some((c) => c.includes('xterm-fg-2') && c.endsWith('|ok 1'))).toBe(true);
      // Bold blue may be drawn in the bright variant (xterm's drawBoldTextInBrightColors).
      expect(classes.some((c) => /xterm-fg-(4|12)\b/.test(c) && c.includes('xterm-bold') && c.endsWith('|blue'))).toBe(
        true,
      );
      expect(classes.some((c) => c.includes('xterm-fg-9') && c.endsWith('|warning on stderr'))).toBe(true);
      await waitForTile('edge-1', (state) => state === 'succeeded');
      await waitForTile('edge-2', (state) => state === 'succeeded');
      await screenshot(page, '04-job');

      // Download serves the stored bytes, escape sequences intact, with the session cookie.
      const href = await page.locator('[data-testid=terminal-pane] a[download]').first().getAttribute('href');
      const raw = await page.request.get(`${stack.url}${href ?? ''}`);
      expect(raw.status()).toBe(200);
      expect((await raw.body()).toString('utf8')).toContain('\x1b[32mok 1\x1b[0m');

      // Both nodes printed the same bytes and exited 0: one group of two.
      await page.getByTestId('group-identical').click();
      await page.locator('[data-testid=run-tile][data-group-size="2"]').waitFor();
      expect(await page.locator('[data-testid=run-tile]').count()).toBe(1);
      expect(await page.locator('[data-testid=run-tile]').textContent()).toContain('edge-1 +1');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'cancels one run, then the rest of the job',
    async () => {
      const job = await stack.admin.createJob({
        target: { all: true },
        spec: { command: 'echo started; sleep 300', timeoutMs: 600_000 },
      });
      await openJob(job.jobId);
      await waitForTile('edge-1', (state) => state === 'running');
      await waitForTile('edge-2', (state) => state === 'running');
      await page.locator('[data-testid=run-tile][data-node-id=edge-1]').click();
      await page.getByTestId('cancel-run').click();
      await waitForTile('edge-1', (state) => state === 'cancelled');
      expect(await tileState('edge-2')).toBe('running');
      await page.getByTestId('cancel-job').click();
      await confirmDialog(page);
      await waitForTile('edge-2', (state) => state === 'cancelled');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'cancels a long run from the job page',
    async () => {
      const job = await stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { command: 'echo started; sleep 300', timeoutMs: 600_000 },
      });
      await openJob(job.jobId);
      await waitForPanes(page, (panes) => panes[0]?.text.includes('started') === true);
      await waitForTile('edge-1', (state) => state === 'running');
      await page.getByTestId('cancel-job').click();
      await confirmDialog(page);
      await waitForTile('edge-1', (state) => state === 'cancelled');
      await page.locator('[data-testid=job-state][data-state=cancelled]').waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'resumes the output completely after a reload in the middle of a run',
    async () => {
      const lines = 60;
      const job = await stack.admin.createJob({
        target: { nodeIds: ['edge-2'] },
        spec: {
          script: { interpreter: 'bash', body: `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.05; done` },
          timeoutMs: 120_000,
        },
      });
      await openJob(job.jobId);
      await waitForPanes(page, (panes) => panes[0]?.text.includes('line 10') === true);
      const before = await readPanes(page);
      expect(before[0]?.text).not.toContain(`line ${lines}`);

      await page.reload();
      await page.getByTestId('job-title').waitFor();
      await waitForTile('edge-2', (state) => isTerminalRunState(runStateSchema.parse(state)));
      const [pane] = await waitForPanes(page, (panes) => panes[0]?.text.includes(`line ${lines}`) === true);
      expect(pane?.text.split('\n')).toEqual(Array.from({ length: lines }, (_, i) => `line ${i + 1}`));
      expect(await tileState('edge-2')).toBe('succeeded');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'holds output while paused and shows all of it on resume',
    async () => {
      const lines = 40;
      const job = await stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: {
          script: { interpreter: 'bash', body: `for i in $(seq 1 ${lines}); do echo "tick $i"; sleep 0.05; done` },
          timeoutMs: 60_000,
        },
      });
      await openJob(job.jobId);
      await waitForPanes(page, (panes) => panes[0]?.text.includes('tick 5') === true);
      await page.getByTestId('follow-toggle').click();
      // xterm parses written bytes on its next tick: let what came before the pause land.
      await page.waitForTimeout(250);
      const held = (await readPanes(page))[0]?.text ?? '';
      await waitForTile('edge-1', (state) => state === 'succeeded');
      expect((await readPanes(page))[0]?.text).toBe(held);
      expect(await page.getByTestId('follow-toggle').textContent()).toMatch(/Paused · \d+ chunks waiting/);
      await page.getByTestId('follow-toggle').click();
      const [pane] = await waitForPanes(page, (panes) => panes[0]?.text.includes(`tick ${lines}`) === true);
      expect(pane?.text.split('\n')).toEqual(Array.from({ length: lines }, (_, i) => `tick ${i + 1}`));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'renders hostile output as inert text: no markup, no title change, no clipboard write, no javascript: link',
    async () => {
      await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.url });
      await page.evaluate(`navigator.clipboard.writeText('untouched')`);
      const titleBefore = await page.title();
      const job = await stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: {
          script: {
            interpreter: 'bash',
            body: [
              `printf '%s\\n' '<img src=x onerror="window.__pwned=1">' '<script>window.__pwned=2</script>'`,
              `printf '\\033]0;HACKED TITLE\\007'`,
              `printf '\\033]2;HACKED AGAIN\\007'`,
              `printf '\\033]52;c;%s\\007' "$(printf pwned | base64)"`,
              `printf '\\033]8;;javascript:window.__pwned=3\\033\\\\click-me\\033]8;;\\033\\\\\\n'`,
              `printf 'hostile done\\n'`,
            ].join('\n'),
          },
          timeoutMs: 60_000,
        },
      });
      const framesSent: string[] = [];
      const writes: string[] = [];
      page.on('websocket', (socket) => socket.on('framesent', (frame) => framesSent.push(String(frame.payload))));
      page.on('request', (request) => {
        if (request.method() !== 'GET') writes.push(`${request.method()} ${request.url()}`);
      });
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      const pagesBefore = browser.context.pages().length;
      await openJob(job.jobId);
      const [pane] = await waitForPanes(page, (panes) => panes[0]?.text.includes('hostile done') === true);
      expect(pane?.text).toContain('<img src=x onerror="window.__pwned=1">');
      expect(pane?.text).toContain('<script>window.__pwned=2</script>');
      expect(pane?.text).toContain('click-me');

      // Hover and click the OSC 8 link text.
      // xterm's screen layer takes the pointer events, so move the real mouse over the text.
      const box = await page
        .locator('[data-testid=terminal] .xterm-rows span', { hasText: 'click-me' })
        .first()
        .boundingBox();
      expect(box).not.toBeNull();
      const x = (box?.x ?? 0) + (box?.width ?? 0) / 2;
      const y = (box?.y ?? 0) + (box?.height ?? 0) / 2;
      await page.mouse.move(x, y);
      await page.waitForTimeout(200);
      await page.mouse.click(x, y);
      await page.waitForTimeout(300);

      // Typing into the terminal goes nowhere: no frame on the live socket, no request.
      const framesBefore = framesSent.length;
      await page.keyboard.type('rm -rf /\n');
      await page.keyboard.press('Control+C');
      await page.waitForTimeout(300);
      expect(framesSent.slice(framesBefore)).toEqual([]);
      expect(writes).toEqual([]);

      expect(await evaluate(page, `typeof window.__pwned`, z.string())).toBe('undefined');
      expect(
        await evaluate(page, `document.querySelectorAll('img[src="x"], script:not([src])').length`, z.number()),
      ).toBe(0);
      expect(await page.title()).toBe(titleBefore);
      expect(await evaluate(page, `navigator.clipboard.readText()`, z.string())).toBe('untouched');
      expect(browser.context.pages()).toHaveLength(pagesBefore);
      expect(dialogs).toEqual([]);

      // The copy button puts the buffer's text, markup-looking lines included, on the clipboard.
      await page.locator('[data-testid=terminal-pane] button[title=Copy]').click();
      const copied = await evaluate(page, `navigator.clipboard.readText()`, z.string());
      expect(copied).toContain('<script>window.__pwned=2</script>');
      expect(copied).toContain('hostile done');
      expect(browser.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows the history, a node and the admin page',
    async () => {
      await page.goto(`${stack.url}/history`);
      await page.locator('.job-row').nth(5).waitFor();
      expect(await page.locator('.job-row').count()).toBe(6);
      await screenshot(page, '05-history');

      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByTestId('quick-command').waitFor();
      await page.getByText('Debian', { exact: false }).first().waitFor();
      await screenshot(page, '06-node');
      // Ctrl+Enter in the quick command box runs it on this node and opens the job.
      await page
        .locator('input[data-testid=quick-command], [data-testid=quick-command] input')
        .fill('echo quick from node');
      await page.keyboard.press('Control+Enter');
      await page.waitForURL((url) => url.pathname.startsWith('/jobs/'));
      await waitForPanes(page, (panes) => panes[0]?.text.includes('quick from node') === true);

      await page.goto(`${stack.url}/admin`);
      await page.getByText('API tokens').first().waitFor();
      await screenshot(page, '07-admin');

      await page.getByTestId('theme-toggle').click();
      await page.goto(`${stack.url}/fleet`);
      await page.locator('[data-testid=node-row]').nth(1).waitFor();
      await screenshot(page, '08-fleet-light');
      await page.goto(`${stack.url}${colouredJobPath}?layout=side`);
      await waitForPanes(page, (panes) => panes.length === 2 && panes.every((pane) => pane.text.includes('stderr')));
      await screenshot(page, '10-job-light');
      await page.getByTestId('theme-toggle').click();

      // The whole console in Chinese: one strings file, one click.
      await page.goto(`${stack.url}/fleet`);
      await page.getByTestId('language').click();
      await page.locator('.el-select-dropdown__item', { hasText: '中文' }).click();
      await page.getByText('2 在线 · 0 离线').waitFor();
      expect(await evaluate(page, `document.documentElement.lang`, z.string())).toBe('zh');
      await screenshot(page, '11-fleet-zh');
      await page.getByTestId('language').click();
      await page.locator('.el-select-dropdown__item', { hasText: 'English' }).click();
      await page.getByText('2 online · 0 offline').waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lets an admin edit tags and create and revoke tokens, showing each secret once',
    async () => {
      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByText('Edit tags').click();
      await page.locator('.el-textarea textarea').fill('role=edge\nrack=r7');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('.tag-chip', { hasText: 'rack=r7' }).waitFor();

      await page.goto(`${stack.url}/admin`);
      await page.locator('.el-tabs__item', { hasText: 'Join tokens' }).click();
      await page.getByPlaceholder('Description').fill('rack 7');
      await page.getByRole('button', { name: 'Create' }).last().click();
      const enroll = await page.getByTestId('new-secret').textContent();
      expect(enroll).toMatch(new RegExp(`^edgestelle agent enroll --master ${stack.url} --token \\S+$`));
      const row = page.locator('.el-table__row', { hasText: 'rack 7' });
      await row.getByText('new nodes').waitFor();
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByText('revoked').waitFor();
      // A token for one node id, the way to enroll an enrolled node again.
      await page.getByPlaceholder('Description').fill('edge-1 new disk');
      await page.getByPlaceholder('Node id (optional)').fill('edge-1');
      await page.getByRole('button', { name: 'Create' }).last().click();
      await page.getByTestId('new-secret').getByText('--node-id edge-1').waitFor();
      expect(await page.getByTestId('new-secret').textContent()).toMatch(
        new RegExp(`^edgestelle agent enroll --master ${stack.url} --token \\S+ --node-id edge-1$`),
      );
      await page
        .locator('.el-table__row', { hasText: 'edge-1 new disk' })
        .getByText('edge-1', { exact: true })
        .waitFor();

      await page.locator('.el-tabs__item', { hasText: 'API tokens' }).click();
      await page.getByPlaceholder('Name').fill('ci-pipeline');
      await page.getByRole('button', { name: 'Create' }).first().click();
      const token = await page.getByTestId('new-secret').textContent();
      expect(token?.length).toBeGreaterThan(20);
      const tokenRow = page.locator('.el-table__row', { hasText: 'ci-pipeline' });
      await tokenRow.getByRole('button', { name: 'Revoke' }).click();
      await tokenRow.getByText('revoked').waitFor();
      const revoked = await fetch(`${stack.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${token ?? ''}` } });
      expect(revoked.status).toBe(401);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'brings an operator whose session ended back to the same page after logging in again',
    async () => {
      await page.goto(`${stack.url}/history`);
      await page.locator('.job-row').first().waitFor();
      await browser.context.clearCookies();
      await page.locator('nav a', { hasText: 'Fleet' }).click();
      await page.waitForURL((url) => url.pathname === '/login');
      expect(new URL(page.url()).searchParams.get('redirect')).toBe('/fleet');
      await page.locator('input[name=username]').fill(ADMIN.username);
      await page.locator('input[name=password]').fill(ADMIN.password);
      await page.getByTestId('login-submit').click();
      await page.waitForURL((url) => url.pathname === '/fleet');
      await page.locator('[data-testid=node-row]').nth(1).waitFor();
      expect(browser.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'gives a viewer no Run button anywhere',
    async () => {
      await logout(page);
      await login(page, stack.url, VIEWER);
      await page.goto(`${stack.url}/fleet`);
      await page.locator('[data-testid=node-row]').nth(1).waitFor();
      expect(await page.getByTestId('run-selected').count()).toBe(0);
      expect(await page.getByTestId('nav-run').count()).toBe(0);
      expect(await page.locator('[data-testid=node-row] .el-checkbox').count()).toBe(0);

      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByText('Facts').waitFor();
      expect(await page.getByTestId('quick-command').count()).toBe(0);

      const job = await stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { command: 'sleep 30', timeoutMs: 60_000 },
      });
      await openJob(job.jobId);
      await waitForTile('edge-1', (state) => state === 'running');
      expect(await page.getByTestId('cancel-job').count()).toBe(0);
      expect(await page.getByTestId('cancel-run').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
