import { isTerminalRunState, runStateSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  confirmDialog,
  evaluate,
  login,
  logout,
  readPanes,
  screenshot,
  submitRunForm,
  waitForPanes,
} from './harness/console-page.ts';
import { ADMIN, VIEWER } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The console in real Chromium against a real master with two real agents: everything an
 * operator does, read back from the xterm buffers and the DOM.
 */

/** The job of the coloured script, for the light-theme screenshot. */
let colouredJobPath = '';

const suite = new ConsoleSuite(['edge-1', 'edge-2']);

const TEST_TIMEOUT_MS = 90_000;

/**
 * Waits, bounded, for one refusal to be reported both ways (its `securitypolicyviolation` event
 * and the browser's console line, each naming the directive), then clears the record.
 */
async function refusalReported(directive: RegExp): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (suite.browser.violations.filter((v) => directive.test(v)).length < 2 && Date.now() < deadline) {
    await suite.page.waitForTimeout(50);
  }
  expect(suite.browser.violations.filter((v) => directive.test(v))).toHaveLength(2);
  suite.browser.violations.length = 0;
}

async function openJob(jobId: string, query = ''): Promise<void> {
  await suite.page.goto(`${suite.stack.url}/jobs/${jobId}${query}`);
  await suite.page.getByTestId('job-title').waitFor();
}

async function tileState(nodeId: string): Promise<string | null> {
  return suite.page.locator(`[data-testid=run-tile][data-node-id="${nodeId}"]`).getAttribute('data-state');
}

async function waitForTile(nodeId: string, done: (state: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await tileState(nodeId);
    if (state !== null && done(state)) return state;
    if (Date.now() > deadline) throw new Error(`run on ${nodeId} stayed ${String(state)}`);
    await suite.page.waitForTimeout(100);
  }
}

describe('web console', () => {
  it(
    'sends a visitor to the login page and back to where they were going',
    async () => {
      await suite.page.goto(`${suite.stack.url}/history`);
      await suite.page.waitForURL((url) => url.pathname === '/login');
      expect(new URL(suite.page.url()).searchParams.get('redirect')).toBe('/history');
      await screenshot(suite.page, '01-login');

      await suite.page.locator('input[name=username]').fill(ADMIN.username);
      await suite.page.locator('input[name=password]').fill('wrong-password');
      await suite.page.getByTestId('login-submit').click();
      await suite.page.getByTestId('login-error').waitFor();

      await suite.page.locator('input[name=password]').fill(ADMIN.password);
      await suite.page.getByTestId('login-submit').click();
      await suite.page.waitForURL((url) => url.pathname === '/history');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'serves the console and the API docs under a policy that refuses inline script and other origins',
    async () => {
      const response = await suite.page.goto(`${suite.stack.url}/fleet`);
      expect(response?.headers()['content-security-policy'] ?? '(none)').toContain("script-src 'self'");
      expect(response?.headers()['x-frame-options']).toBe('DENY');
      await suite.page.locator('[data-testid=node-row]').first().waitFor();

      // The recorder hears what the policy refuses: an injected inline script does not run.
      await suite.page.evaluate(
        `document.body.append(Object.assign(document.createElement('script'), { textContent: 'window.__inline = 1' }))`,
      );
      await refusalReported(/script-src/);
      expect(await evaluate(suite.page, `typeof window.__inline`, z.string())).toBe('undefined');

      // connect-src 'self' lets the page open the live hub on its own origin (ws:), and no other.
      const opened = await evaluate(
        suite.page,
        `new Promise((resolve) => {
          const socket = new WebSocket(location.origin.replace(/^http/, 'ws') + '/api/v1/live');
          socket.onopen = () => { socket.close(); resolve('open'); };
          socket.onerror = () => resolve('error');
        })`,
        z.string(),
      );
      expect(opened).toBe('open');
      expect(suite.browser.violations).toEqual([]);
      await suite.page.evaluate(`new WebSocket('ws://127.0.0.2:9/')`);
      await refusalReported(/connect-src/);

      // The OpenAPI page (Swagger UI) renders under the same policy.
      const docs = await suite.page.goto(`${suite.stack.url}/api/docs`);
      expect(docs?.headers()['content-security-policy'] ?? '(none)').toContain("default-src 'none'");
      await suite.page.locator('.swagger-ui .info .title', { hasText: 'EdgeStelle master API' }).waitFor();
      await suite.page.locator('.opblock').nth(20).waitFor();
      await screenshot(suite.page, '01b-api-docs');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows both nodes online in the fleet',
    async () => {
      await suite.page.goto(`${suite.stack.url}/fleet`);
      await suite.page.locator('[data-testid=node-row]').nth(1).waitFor();
      await suite.page.waitForFunction(
        `[...document.querySelectorAll('[data-testid=node-status]')].filter((dot) => dot.classList.contains('online')).length === 2`,
        undefined,
        { timeout: 30_000 },
      );
      const ids = await evaluate(
        suite.page,
        `[...document.querySelectorAll('[data-testid=node-row]')].map((row) => row.dataset.nodeId)`,
        z.array(z.string()),
      );
      expect(ids).toEqual(['edge-1', 'edge-2']);
      expect(await suite.page.getByTestId('fleet-counts').textContent()).toContain('2 online · 0 offline');
      await screenshot(suite.page, '02-fleet');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'runs a script printing coloured lines on both nodes and shows them in two terminals',
    async () => {
      await suite.page.getByText('Select all 2 matching').click();
      await suite.page.getByTestId('run-selected').click();
      await suite.page.waitForURL((url) => url.pathname === '/run');
      await suite.page.locator('.el-radio-button', { hasText: 'Script' }).click();
      await suite.page
        .locator('[data-testid=run-script] textarea, textarea[data-testid=run-script]')
        .fill(
          [
            'for i in 1 2 3; do',
            '  printf \'\\033[32mok %d\\033[0m \\033[1;34mblue\\033[0m\\n\' "$i"',
            'done',
            'echo "warning on stderr" >&2',
          ].join('\n'),
        );
      expect(await suite.page.getByTestId('run-matching').textContent()).toContain('2 matching · 2 online');
      // A tag expression counts its matching nodes as it is typed.
      await suite.page.locator('.el-radio-button', { hasText: 'Tags' }).click();
      await suite.page.getByPlaceholder('role=edge site=berlin').fill('role=edge site=e2e');
      expect(await suite.page.getByTestId('run-matching').textContent()).toContain('1 matching · 1 online');
      await suite.page.locator('.el-radio-button', { hasText: 'Selected nodes' }).click();
      await screenshot(suite.page, '03-run');
      const jobPath = await submitRunForm(suite.page);
      colouredJobPath = jobPath;
      await suite.page.goto(`${suite.stack.url}${jobPath}?layout=side`);
      const panes = await waitForPanes(
        suite.page,
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
        suite.page,
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
      await screenshot(suite.page, '04-job');

      // Download serves the stored bytes, escape sequences intact, with the session cookie.
      const href = await suite.page.locator('[data-testid=terminal-pane] a[download]').first().getAttribute('href');
      const raw = await suite.page.request.get(`${suite.stack.url}${href ?? ''}`);
      expect(raw.status()).toBe(200);
      expect((await raw.body()).toString('utf8')).toContain('\x1b[32mok 1\x1b[0m');

      // Both nodes printed the same bytes and exited 0: one group of two.
      await suite.page.getByTestId('group-identical').click();
      await suite.page.locator('[data-testid=run-tile][data-group-size="2"]').waitFor();
      expect(await suite.page.locator('[data-testid=run-tile]').count()).toBe(1);
      expect(await suite.page.locator('[data-testid=run-tile]').textContent()).toContain('edge-1 +1');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'cancels one run, then the rest of the job',
    async () => {
      const job = await suite.stack.admin.createJob({
        target: { all: true },
        spec: { command: 'echo started; sleep 300', timeoutMs: 600_000 },
      });
      await openJob(job.jobId);
      await waitForTile('edge-1', (state) => state === 'running');
      await waitForTile('edge-2', (state) => state === 'running');
      await suite.page.locator('[data-testid=run-tile][data-node-id=edge-1]').click();
      await suite.page.getByTestId('cancel-run').click();
      await waitForTile('edge-1', (state) => state === 'cancelled');
      expect(await tileState('edge-2')).toBe('running');
      await suite.page.getByTestId('cancel-job').click();
      await confirmDialog(suite.page);
      await waitForTile('edge-2', (state) => state === 'cancelled');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'cancels a long run from the job page',
    async () => {
      const job = await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { command: 'echo started; sleep 300', timeoutMs: 600_000 },
      });
      await openJob(job.jobId);
      await waitForPanes(suite.page, (panes) => panes[0]?.text.includes('started') === true);
      await waitForTile('edge-1', (state) => state === 'running');
      await suite.page.getByTestId('cancel-job').click();
      await confirmDialog(suite.page);
      await waitForTile('edge-1', (state) => state === 'cancelled');
      await suite.page.locator('[data-testid=job-state][data-state=cancelled]').waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'resumes the output completely after a reload in the middle of a run',
    async () => {
      const lines = 60;
      const job = await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-2'] },
        spec: {
          script: { interpreter: 'bash', body: `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.05; done` },
          timeoutMs: 120_000,
        },
      });
      await openJob(job.jobId);
      await waitForPanes(suite.page, (panes) => panes[0]?.text.includes('line 10') === true);
      const before = await readPanes(suite.page);
      expect(before[0]?.text).not.toContain(`line ${lines}`);

      await suite.page.reload();
      await suite.page.getByTestId('job-title').waitFor();
      await waitForTile('edge-2', (state) => isTerminalRunState(runStateSchema.parse(state)));
      const [pane] = await waitForPanes(suite.page, (panes) => panes[0]?.text.includes(`line ${lines}`) === true);
      expect(pane?.text.split('\n')).toEqual(Array.from({ length: lines }, (_, i) => `line ${i + 1}`));
      expect(await tileState('edge-2')).toBe('succeeded');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'holds output while paused and shows all of it on resume',
    async () => {
      const lines = 40;
      const job = await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: {
          script: { interpreter: 'bash', body: `for i in $(seq 1 ${lines}); do echo "tick $i"; sleep 0.05; done` },
          timeoutMs: 60_000,
        },
      });
      await openJob(job.jobId);
      await waitForPanes(suite.page, (panes) => panes[0]?.text.includes('tick 5') === true);
      await suite.page.getByTestId('follow-toggle').click();
      // xterm parses written bytes on its next tick: let what came before the pause land.
      await suite.page.waitForTimeout(250);
      const held = (await readPanes(suite.page))[0]?.text ?? '';
      await waitForTile('edge-1', (state) => state === 'succeeded');
      expect((await readPanes(suite.page))[0]?.text).toBe(held);
      expect(await suite.page.getByTestId('follow-toggle').textContent()).toMatch(/Paused · \d+ chunks waiting/);
      await suite.page.getByTestId('follow-toggle').click();
      const [pane] = await waitForPanes(suite.page, (panes) => panes[0]?.text.includes(`tick ${lines}`) === true);
      expect(pane?.text.split('\n')).toEqual(Array.from({ length: lines }, (_, i) => `tick ${i + 1}`));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'renders hostile output as inert text: no markup, no title change, no clipboard write, no javascript: link',
    async () => {
      await suite.browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: suite.stack.url });
      await suite.page.evaluate(`navigator.clipboard.writeText('untouched')`);
      const titleBefore = await suite.page.title();
      const job = await suite.stack.admin.createJob({
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
      suite.page.on('websocket', (socket) => socket.on('framesent', (frame) => framesSent.push(String(frame.payload))));
      suite.page.on('request', (request) => {
        if (request.method() !== 'GET') writes.push(`${request.method()} ${request.url()}`);
      });
      const dialogs: string[] = [];
      suite.page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      const pagesBefore = suite.browser.context.pages().length;
      await openJob(job.jobId);
      const [pane] = await waitForPanes(suite.page, (panes) => panes[0]?.text.includes('hostile done') === true);
      expect(pane?.text).toContain('<img src=x onerror="window.__pwned=1">');
      expect(pane?.text).toContain('<script>window.__pwned=2</script>');
      expect(pane?.text).toContain('click-me');

      // Hover and click the OSC 8 link text.
      // xterm's screen layer takes the pointer events, so move the real mouse over the text.
      const box = await suite.page
        .locator('[data-testid=terminal] .xterm-rows span', { hasText: 'click-me' })
        .first()
        .boundingBox();
      expect(box).not.toBeNull();
      const x = (box?.x ?? 0) + (box?.width ?? 0) / 2;
      const y = (box?.y ?? 0) + (box?.height ?? 0) / 2;
      await suite.page.mouse.move(x, y);
      await suite.page.waitForTimeout(200);
      await suite.page.mouse.click(x, y);
      await suite.page.waitForTimeout(300);

      // Typing into the terminal goes nowhere: no frame on the live socket, no request.
      const framesBefore = framesSent.length;
      await suite.page.keyboard.type('rm -rf /\n');
      await suite.page.keyboard.press('Control+C');
      await suite.page.waitForTimeout(300);
      expect(framesSent.slice(framesBefore)).toEqual([]);
      expect(writes).toEqual([]);

      expect(await evaluate(suite.page, `typeof window.__pwned`, z.string())).toBe('undefined');
      expect(
        await evaluate(suite.page, `document.querySelectorAll('img[src="x"], script:not([src])').length`, z.number()),
      ).toBe(0);
      expect(await suite.page.title()).toBe(titleBefore);
      expect(await evaluate(suite.page, `navigator.clipboard.readText()`, z.string())).toBe('untouched');
      expect(suite.browser.context.pages()).toHaveLength(pagesBefore);
      expect(dialogs).toEqual([]);

      // The copy button puts the buffer's text, markup-looking lines included, on the clipboard.
      await suite.page.locator('[data-testid=terminal-pane] button[title=Copy]').click();
      const copied = await evaluate(suite.page, `navigator.clipboard.readText()`, z.string());
      expect(copied).toContain('<script>window.__pwned=2</script>');
      expect(copied).toContain('hostile done');
      expect(suite.browser.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'shows the history, a node and the admin page',
    async () => {
      await suite.page.goto(`${suite.stack.url}/history`);
      await suite.page.locator('.job-row').nth(5).waitFor();
      expect(await suite.page.locator('.job-row').count()).toBe(6);
      await screenshot(suite.page, '05-history');

      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByTestId('quick-command').waitFor();
      await suite.page.getByText('Debian', { exact: false }).first().waitFor();
      await screenshot(suite.page, '06-node');
      // Ctrl+Enter in the quick command box runs it on this node and opens the job.
      await suite.page
        .locator('input[data-testid=quick-command], [data-testid=quick-command] input')
        .fill('echo quick from node');
      await suite.page.keyboard.press('Control+Enter');
      await suite.page.waitForURL((url) => url.pathname.startsWith('/jobs/'));
      await waitForPanes(suite.page, (panes) => panes[0]?.text.includes('quick from node') === true);

      await suite.page.goto(`${suite.stack.url}/admin`);
      await suite.page.getByText('API tokens').first().waitFor();
      await screenshot(suite.page, '07-admin');

      await suite.page.getByTestId('theme-toggle').click();
      await suite.page.goto(`${suite.stack.url}/fleet`);
      await suite.page.locator('[data-testid=node-row]').nth(1).waitFor();
      await screenshot(suite.page, '08-fleet-light');
      await suite.page.goto(`${suite.stack.url}${colouredJobPath}?layout=side`);
      await waitForPanes(
        suite.page,
        (panes) => panes.length === 2 && panes.every((pane) => pane.text.includes('stderr')),
      );
      await screenshot(suite.page, '10-job-light');
      await suite.page.getByTestId('theme-toggle').click();

      // The whole console in Chinese: one strings file, one click.
      await suite.page.goto(`${suite.stack.url}/fleet`);
      await suite.page.getByTestId('language').click();
      await suite.page.locator('.el-select-dropdown__item', { hasText: '中文' }).click();
      await suite.page.getByText('2 在线 · 0 离线').waitFor();
      expect(await evaluate(suite.page, `document.documentElement.lang`, z.string())).toBe('zh');
      await screenshot(suite.page, '11-fleet-zh');
      await suite.page.getByTestId('language').click();
      await suite.page.locator('.el-select-dropdown__item', { hasText: 'English' }).click();
      await suite.page.getByText('2 online · 0 offline').waitFor();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'lets an admin edit tags and create and revoke tokens, showing each secret once',
    async () => {
      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByText('Edit tags').click();
      await suite.page.locator('.el-textarea textarea').fill('role=edge\nrack=r7');
      await suite.page.getByRole('button', { name: 'Save' }).click();
      await suite.page.locator('.tag-chip', { hasText: 'rack=r7' }).waitFor();

      await suite.page.goto(`${suite.stack.url}/admin`);
      await suite.page.locator('.el-tabs__item', { hasText: 'Join tokens' }).click();
      await suite.page.getByPlaceholder('Description').fill('rack 7');
      await suite.page.getByRole('button', { name: 'Create' }).last().click();
      const enroll = await suite.page.getByTestId('new-secret').textContent();
      expect(enroll).toMatch(new RegExp(`^edgestelle agent enroll --master ${suite.stack.url} --token \\S+$`));
      const row = suite.page.locator('.el-table__row', { hasText: 'rack 7' });
      await row.getByText('new nodes').waitFor();
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByText('revoked').waitFor();
      // A token for one node id, the way to enroll an enrolled node again.
      await suite.page.getByPlaceholder('Description').fill('edge-1 new disk');
      await suite.page.getByPlaceholder('Node id (optional)').fill('edge-1');
      await suite.page.getByRole('button', { name: 'Create' }).last().click();
      await suite.page.getByTestId('new-secret').getByText('--node-id edge-1').waitFor();
      expect(await suite.page.getByTestId('new-secret').textContent()).toMatch(
        new RegExp(`^edgestelle agent enroll --master ${suite.stack.url} --token \\S+ --node-id edge-1$`),
      );
      await suite.page
        .locator('.el-table__row', { hasText: 'edge-1 new disk' })
        .getByText('edge-1', { exact: true })
        .waitFor();

      await suite.page.locator('.el-tabs__item', { hasText: 'API tokens' }).click();
      await suite.page.getByPlaceholder('Name').fill('ci-pipeline');
      await suite.page.getByRole('button', { name: 'Create' }).first().click();
      const token = await suite.page.getByTestId('new-secret').textContent();
      expect(token?.length).toBeGreaterThan(20);
      const tokenRow = suite.page.locator('.el-table__row', { hasText: 'ci-pipeline' });
      await tokenRow.getByRole('button', { name: 'Revoke' }).click();
      await tokenRow.getByText('revoked').waitFor();
      const revoked = await fetch(`${suite.stack.url}/api/v1/nodes`, {
        headers: { authorization: `Bearer ${token ?? ''}` },
      });
      expect(revoked.status).toBe(401);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'brings an operator whose session ended back to the same page after logging in again',
    async () => {
      await suite.page.goto(`${suite.stack.url}/history`);
      await suite.page.locator('.job-row').first().waitFor();
      await suite.browser.context.clearCookies();
      await suite.page.locator('nav a', { hasText: 'Fleet' }).click();
      await suite.page.waitForURL((url) => url.pathname === '/login');
      expect(new URL(suite.page.url()).searchParams.get('redirect')).toBe('/fleet');
      await suite.page.locator('input[name=username]').fill(ADMIN.username);
      await suite.page.locator('input[name=password]').fill(ADMIN.password);
      await suite.page.getByTestId('login-submit').click();
      await suite.page.waitForURL((url) => url.pathname === '/fleet');
      await suite.page.locator('[data-testid=node-row]').nth(1).waitFor();
      expect(suite.browser.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'gives a viewer no Run button anywhere',
    async () => {
      await logout(suite.page);
      await login(suite.page, suite.stack.url, VIEWER);
      await suite.page.goto(`${suite.stack.url}/fleet`);
      await suite.page.locator('[data-testid=node-row]').nth(1).waitFor();
      expect(await suite.page.getByTestId('run-selected').count()).toBe(0);
      expect(await suite.page.getByTestId('nav-run').count()).toBe(0);
      expect(await suite.page.locator('[data-testid=node-row] .el-checkbox').count()).toBe(0);

      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByText('Facts').waitFor();
      expect(await suite.page.getByTestId('quick-command').count()).toBe(0);

      const job = await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { command: 'sleep 30', timeoutMs: 60_000 },
      });
      await openJob(job.jobId);
      await waitForTile('edge-1', (state) => state === 'running');
      expect(await suite.page.getByTestId('cancel-job').count()).toBe(0);
      expect(await suite.page.getByTestId('cancel-run').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
