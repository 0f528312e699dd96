import { jobDtoSchema } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { confirmDialog, evaluate, login, logout, screenshot, waitForPanes } from './harness/console-page.ts';
import { ADMIN, VIEWER, startConsoleStack } from './harness/stack.ts';

/**
 * Secret variables in the console, in real Chromium against a real master and agent: a value
 * marked secret in the Run form reaches the node, and the job page, the audit log and the
 * API the page reads show `***` to the admin who typed it and to a viewer alike.
 */

let stack: InProcessMaster;
let profile: TempDir;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack(['edge-1']);
  profile = await tempDir('edgestelle-chromium-');
  browser = await launchBrowser(profile.path);
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await browser?.[Symbol.asyncDispose]();
  await profile?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
});

const TEST_TIMEOUT_MS = 90_000;
const SECRET = 'console-Secret-Value-58b2';

/** An Element Plus input by its test id, which lands on the native input or its wrapper. */
function field(row: number, testId: string) {
  return page.getByTestId('env-row').nth(row).locator(`input[data-testid=${testId}], [data-testid=${testId}] input`);
}

describe('secret variables in the console', () => {
  it(
    'sends a value marked secret from the Run form to the node; the job page shows *** to the admin and a viewer',
    async () => {
      await login(page, stack.url, ADMIN);
      await page.goto(`${stack.url}/run`);
      await page
        .locator('input[data-testid=run-command], [data-testid=run-command] input')
        .fill('echo "got:$DB_PASSWORD:$MODE"');
      await page.getByTestId('target-all').click();
      await page.getByTestId('env-add').click();
      await page.getByTestId('env-add').click();
      await field(0, 'env-name').fill('MODE');
      await field(0, 'env-value').fill('plain-visible');
      await field(1, 'env-name').fill('DB_PASSWORD');
      await page.getByTestId('env-row').nth(1).getByTestId('env-secret').click();
      await field(1, 'env-value').fill(SECRET);
      // Typed into a password field: the browser does not show it.
      expect(await field(1, 'env-value').getAttribute('type')).toBe('password');
      await screenshot(page, '30-run-secret-env');

      await page.getByTestId('run-submit').click();
      await confirmDialog(page);
      await page.waitForURL((url) => url.pathname.startsWith('/jobs/'));
      const jobId = new URL(page.url()).pathname.split('/').at(-1) ?? '';

      // Delivered: the node's process printed it.
      const [pane] = await waitForPanes(page, (all) => all.length === 1 && (all[0]?.text.includes('got:') ?? false));
      expect(pane?.text).toContain(`got:${SECRET}:plain-visible`);
      const shown = await page.getByTestId('job-env').textContent();
      expect(shown).toContain('MODE=plain-visible');
      expect(shown).toContain('DB_PASSWORD=***');
      expect(shown).not.toContain(SECRET);
      expect(await page.getByTestId('job-secret-env').textContent()).toBe('DB_PASSWORD=***');
      await screenshot(page, '31-job-secret-env');

      // The audit log names the variable, not its value.
      await page.goto(`${stack.url}/admin`);
      await page.locator('.el-tabs__item', { hasText: 'Audit log' }).click();
      const created = page
        .locator('.el-table__row', { has: page.locator('[data-testid=audit-row][data-action="job.create"]') })
        .first();
      await created.waitFor();
      expect(await created.textContent()).toContain('secretEnv=DB_PASSWORD=***');
      const auditTable = await evaluate(page, `document.querySelector('.el-table')?.textContent ?? ''`, z.string());
      expect(auditTable).not.toContain(SECRET);

      // A viewer sees the same page and the same API answer.
      await logout(page);
      await login(page, stack.url, VIEWER);
      await page.goto(`${stack.url}/jobs/${jobId}`);
      await page.getByTestId('job-secret-env').waitFor();
      expect(await page.getByTestId('job-secret-env').textContent()).toBe('DB_PASSWORD=***');
      const response = await page.request.get(`${stack.url}/api/v1/jobs/${jobId}`);
      const body = await response.text();
      expect(body).not.toContain(SECRET);
      expect(jobDtoSchema.parse(JSON.parse(body)).secretEnv).toEqual({ DB_PASSWORD: '***' });
      await logout(page);
    },
    TEST_TIMEOUT_MS,
  );
});
