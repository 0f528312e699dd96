import type { Request } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  confirmDialog,
  evaluate,
  login,
  logout,
  screenshot,
  submitRunForm,
  waitForPanes,
} from './harness/console-page.ts';
import { ADMIN, VIEWER } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The console pages built on issue 5's API, in real Chromium against a real master with two
 * real agents: the script library and its parameter form, log search opening a run at the
 * hit's line, users, sessions and the audit log, and what a viewer is not offered.
 */

const suite = new ConsoleSuite(['edge-1', 'edge-2'], ADMIN);

const TEST_TIMEOUT_MS = 90_000;

/** An Element Plus input by its test id, which lands on the native input or its wrapper. */
function field(testId: string) {
  return suite.page.locator(`input[data-testid=${testId}], [data-testid=${testId}] input`);
}

/** The dropdown option of the Element Plus select that is open now. */
async function pickOption(text: string): Promise<void> {
  await suite.page.locator('.el-select-dropdown__item').filter({ visible: true, hasText: text }).first().click();
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await suite.page.waitForTimeout(250);
  }
}

describe('console on the issue 5 API', () => {
  it(
    'saves a library script with parameters and runs it; the value arrives as $PARAM_WHO, not spliced',
    async () => {
      await suite.page.goto(`${suite.stack.url}/scripts`);
      await suite.page.getByTestId('script-new').click();
      await field('script-name').fill('greet');
      await field('script-description').fill('Greets someone, a few times');
      await suite.page
        .getByTestId('script-editor')
        .fill(
          `#!/bin/bash\n# parameters arrive in the environment\nprintf 'who=%s\\n' "$PARAM_WHO"\nprintf 'count=%s\\n' "$PARAM_COUNT"\n`,
        );
      await suite.page.getByTestId('param-add').click();
      await suite.page.getByTestId('param-add').click();
      const [who, count] = [suite.page.getByTestId('param-row').nth(0), suite.page.getByTestId('param-row').nth(1)];
      await who.getByPlaceholder('name').fill('who');
      await who.getByText('required').click();
      await count.getByPlaceholder('name').fill('count');
      await count.locator('.el-select').click();
      await pickOption('number');
      await count.getByPlaceholder('default').fill('3');
      await count.getByPlaceholder('min').fill('1');
      await count.getByPlaceholder('max').fill('5');
      await suite.page.getByTestId('script-save').click();
      await suite.page.waitForURL((url) => url.searchParams.get('name') === 'greet');
      await suite.page.getByTestId('script-version').first().waitFor();
      expect(await suite.page.getByTestId('script-item').first().textContent()).toContain('greet');
      // The highlighter coloured the comment and the variables.
      expect(await suite.page.locator('.editor .tok-comment', { hasText: 'parameters arrive' }).count()).toBe(1);
      expect(await suite.page.locator('.editor .tok-string').count()).toBeGreaterThan(0);
      await screenshot(suite.page, '20-scripts');

      await suite.page.getByTestId('script-run').click();
      await suite.page.waitForURL((url) => url.pathname === '/run');
      await suite.page.locator('[data-param=who] input').waitFor();
      expect(await suite.page.locator('[data-param=count] input').inputValue()).toBe('3');
      await suite.page.getByTestId('target-all').click();
      // Checked before anything is sent: a missing required value and a number out of range.
      await suite.page.locator('[data-param=count] input').fill('9');
      await suite.page.getByTestId('run-submit').click();
      await suite.page.locator('[data-param=who] .problem', { hasText: 'Required.' }).waitFor();
      await suite.page.locator('[data-param=count] .problem', { hasText: 'At most 5.' }).waitFor();
      await screenshot(suite.page, '21-run-library');
      const hostile = `x'; echo INJECTED; '$(id)`;
      await suite.page.locator('[data-param=who] input').fill(hostile);
      await suite.page.locator('[data-param=count] input').fill('4');
      const jobPath = await submitRunForm(suite.page);
      await suite.page.goto(`${suite.stack.url}${jobPath}?layout=side`);
      const panes = await waitForPanes(
        suite.page,
        (all) => all.length === 2 && all.every((pane) => pane.text.includes('count=4')),
      );
      for (const pane of panes) {
        expect(pane.text.split('\n')).toEqual([`who=${hostile}`, 'count=4']);
      }
      expect(await suite.page.getByTestId('job-what').textContent()).toContain('PARAM_WHO');
      // The job names the script version it ran and the values it was given, as text.
      expect(await suite.page.getByTestId('job-script').textContent()).toContain('greet@1');
      expect(await suite.page.getByTestId('job-script').textContent()).toContain(`who=${hostile}`);
      await screenshot(suite.page, '21b-job-library');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'finds a line printed by one node and opens that run scrolled to the line',
    async () => {
      const filler = (from: number, to: number) => `for i in $(seq ${from} ${to}); do echo "filler line $i"; done`;
      const needleJob = await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-2'] },
        spec: {
          script: {
            interpreter: 'bash',
            body: [filler(1, 300), `echo "needle-7f3a <b>found</b> here"`, filler(301, 400)].join('\n'),
          },
          timeoutMs: 60_000,
        },
      });
      await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { script: { interpreter: 'bash', body: filler(1, 50) }, timeoutMs: 60_000 },
      });

      await suite.page.goto(`${suite.stack.url}/search`);
      await field('search-input').fill('needle-7f3a found');
      // Lines are indexed once stored; the runs above are still finishing.
      const hits = await until('a search hit', async () => {
        await suite.page.getByTestId('search-submit').click();
        await suite.page.waitForTimeout(300);
        const count = await suite.page.getByTestId('search-hit').count();
        return count > 0 ? count : null;
      });
      expect(hits).toBe(1);
      const hit = suite.page.getByTestId('search-hit').first();
      expect(await hit.getAttribute('data-line-no')).toBe('301');
      expect(await hit.textContent()).toContain('edge-2');
      expect(await hit.locator('mark').allTextContents()).toEqual(['needle-7f3a', 'found']);
      // Markup in output is text: the <b> is shown, not made bold.
      expect(await hit.locator('code b').count()).toBe(0);
      expect(await hit.locator('code').textContent()).toBe('needle-7f3a <b>found</b> here');
      await screenshot(suite.page, '22-search');

      await hit.click();
      await suite.page.waitForURL((url) => url.pathname === `/jobs/${needleJob.jobId}`);
      expect(new URL(suite.page.url()).searchParams.get('line')).toBe('301');
      // The rows on screen (xterm's DOM rows are the viewport) hold the line, not the start or end.
      const visible = await until('the hit line on screen', async () => {
        const rows = await evaluate(
          suite.page,
          `[...document.querySelectorAll('[data-testid=terminal] .xterm-rows > div')].map((row) => row.textContent ?? '')`,
          z.array(z.string()),
        );
        return rows.some((row) => row.includes('needle-7f3a')) ? rows : null;
      });
      expect(visible.some((row) => row.trim() === 'filler line 1')).toBe(false);
      expect(visible.some((row) => row.trim() === 'filler line 400')).toBe(false);
      await screenshot(suite.page, '23-search-opened');

      // The node page lists its recent runs, the needle run among them.
      await suite.page.goto(`${suite.stack.url}/nodes/edge-2`);
      await suite.page.locator('.run-row').first().waitFor();
      await screenshot(suite.page, '24-node-runs');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'finds a word after 4,000 characters of a line, and says why it will not search for NUL bytes',
    async () => {
      const requests: string[] = [];
      const record = (request: Request): void => {
        if (request.url().includes('/api/v1/search')) requests.push(request.url());
      };
      suite.page.on('request', record);
      await suite.page.goto(`${suite.stack.url}/search?q=${encodeURIComponent('\0\0\0')}`);
      await suite.page.getByTestId('search-problem').waitFor();
      expect(await suite.page.getByTestId('search-problem').textContent()).toBe(
        '"\\u0000\\u0000\\u0000" has no searchable character; each word needs 3 or more characters that are not spaces or control characters',
      );
      expect(await suite.page.getByTestId('search-submit').isDisabled()).toBe(true);
      expect(requests).toEqual([]);
      suite.page.off('request', record);

      await suite.stack.admin.createJob({
        target: { nodeIds: ['edge-1'] },
        spec: { command: `head -c 4000 /dev/zero | tr '\\0' a; echo ' long-needle-5e1 end'`, timeoutMs: 60_000 },
      });
      await field('search-input').fill('long-needle-5e1');
      expect(await suite.page.getByTestId('search-problem').count()).toBe(0);
      await until('a search hit', async () => {
        await suite.page.getByTestId('search-submit').click();
        await suite.page.waitForTimeout(300);
        return (await suite.page.getByTestId('search-hit').count()) > 0 ? true : null;
      });
      const hit = suite.page.getByTestId('search-hit').first();
      expect(await hit.locator('mark').allTextContents()).toEqual(['long-needle-5e1']);
      // The line is cut before the match, and that is shown.
      expect(await hit.getByTestId('hit-cut-start').count()).toBe(1);
      expect(await hit.getByTestId('hit-cut-end').count()).toBe(0);
      expect(await hit.locator('code').textContent()).toMatch(/^…a+ long-needle-5e1 end$/);
      await screenshot(suite.page, '24b-search-long-line');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'manages users and sessions as an admin, and the audit log shows what was just done',
    async () => {
      await suite.page.goto(`${suite.stack.url}/admin`);
      await field('user-username').fill('otto');
      await field('user-password').fill('otto-password-1');
      await suite.page.getByTestId('user-create').click();
      await suite.page.locator('[data-testid=user-row][data-username=otto]').waitFor();

      await suite.page.getByTestId('user-role-otto').click();
      await pickOption('viewer');
      await suite.page.locator('.el-table__row', { hasText: 'otto' }).getByText('viewer').waitFor();
      await suite.page.getByTestId('user-reset-otto').click();
      await suite.page.locator('.el-message-box__input input').fill('otto-password-2');
      await confirmDialog(suite.page);
      await suite.page.getByText('Password of otto reset.').waitFor();
      const ottoLogin = await fetch(`${suite.stack.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'otto', password: 'otto-password-2' }),
      });
      expect(ottoLogin.status).toBe(200);
      const ottoCookie = (ottoLogin.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      await suite.page.getByTestId('user-disable-otto').click();
      await suite.page.locator('.el-table__row', { hasText: 'otto' }).getByText('disabled').waitFor();
      await screenshot(suite.page, '25-users');
      // Disabling ended otto's session at once.
      const afterDisable = await fetch(`${suite.stack.url}/api/v1/auth/me`, { headers: { cookie: ottoCookie } });
      expect(afterDisable.status).toBe(401);

      // A viewer signed in elsewhere; the admin ends that session.
      const veraLogin = await fetch(`${suite.stack.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(VIEWER),
      });
      const veraCookie = (veraLogin.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      await suite.page.locator('.el-tabs__item', { hasText: 'Sessions' }).click();
      const veraRow = suite.page.locator('.el-table__row', {
        has: suite.page.locator('[data-testid=session-row][data-username=vera]'),
      });
      await veraRow.waitFor();
      await screenshot(suite.page, '26-sessions');
      await veraRow.getByTestId('session-revoke').click();
      await veraRow.waitFor({ state: 'detached' });
      const afterRevoke = await fetch(`${suite.stack.url}/api/v1/auth/me`, { headers: { cookie: veraCookie } });
      expect(afterRevoke.status).toBe(401);

      await suite.page.locator('.el-tabs__item', { hasText: 'Audit log' }).click();
      await suite.page.getByTestId('audit-row').first().waitFor();
      const actions = await evaluate(
        suite.page,
        `[...document.querySelectorAll('[data-testid=audit-row]')].map((row) => row.dataset.action)`,
        z.array(z.string()),
      );
      for (const action of ['user.create', 'user.update', 'user.password_reset', 'session.revoke', 'script.save']) {
        expect(actions).toContain(action);
      }
      // Filtered on the server: only user changes.
      await suite.page.getByTestId('audit-action').click();
      await pickOption('user.update');
      await suite.page.keyboard.press('Escape');
      await suite.page.getByTestId('audit-apply').click();
      await until('only user.update events', async () => {
        const shown = await evaluate(
          suite.page,
          `[...document.querySelectorAll('[data-testid=audit-row]')].map((row) => row.dataset.action)`,
          z.array(z.string()),
        );
        return shown.length > 0 && shown.every((a) => a === 'user.update') ? shown : null;
      });
      await screenshot(suite.page, '27-audit');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'offers a viewer no Run, script editing or admin controls, and filters history on the server',
    async () => {
      await logout(suite.page);
      await login(suite.page, suite.stack.url, VIEWER);
      await suite.page.goto(`${suite.stack.url}/scripts?name=greet`);
      await suite.page.getByTestId('script-version').first().waitFor();
      expect(await suite.page.getByTestId('nav-run').count()).toBe(0);
      expect(await suite.page.getByTestId('nav-admin').textContent()).toBe('Account');
      for (const control of ['script-new', 'script-save', 'script-run', 'param-add']) {
        expect(await suite.page.getByTestId(control).count()).toBe(0);
      }
      expect(await suite.page.getByTestId('script-editor').getAttribute('readonly')).not.toBeNull();

      await suite.page.goto(`${suite.stack.url}/admin`);
      await suite.page.getByText('API tokens').first().waitFor();
      for (const tab of ['Users', 'Audit log', 'Join tokens']) {
        expect(await suite.page.locator('.el-tabs__item', { hasText: tab }).count()).toBe(0);
      }

      await suite.page.goto(`${suite.stack.url}/history?node=edge-2`);
      await suite.page.locator('.job-row').first().waitFor();
      const finished = await suite.page
        .locator('[data-testid=history-counts] [data-state=finished] strong')
        .textContent();
      // edge-2 ran the library job and the needle job; edge-1's filler job is filtered out.
      expect(finished).toBe('2');
      expect(await suite.page.locator('.job-row').count()).toBe(2);
      await screenshot(suite.page, '28-history-filtered');
      // The same filter over runs, counted by run state.
      await suite.page.getByTestId('history-runs').click();
      await suite.page.waitForURL((url) => url.searchParams.get('view') === 'runs');
      await until('two runs of edge-2', async () =>
        (await suite.page.locator('.job-row').count()) === 2 ? true : null,
      );
      expect(await suite.page.locator('[data-testid=history-counts] [data-state=succeeded] strong').textContent()).toBe(
        '2',
      );
      await screenshot(suite.page, '29-history-runs');
      expect(suite.browser.errors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
