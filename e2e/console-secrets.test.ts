import { jobDtoSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { evaluate, login, logout, screenshot, submitRunForm, waitForPanes } from './harness/console-page.ts';
import { ADMIN, VIEWER } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * Secret variables in the console, in real Chromium against a real master and agent: a value
 * marked secret in the Run form reaches the node, and the job page, the audit log and the
 * API the page reads show `***` to the admin who typed it and to a viewer alike.
 */

const suite = new ConsoleSuite(['edge-1']);

const TEST_TIMEOUT_MS = 90_000;
const SECRET = 'console-Secret-Value-58b2';

/** An Element Plus input by its test id, which lands on the native input or its wrapper. */
function field(row: number, testId: string) {
  return suite.page
    .getByTestId('env-row')
    .nth(row)
    .locator(`input[data-testid=${testId}], [data-testid=${testId}] input`);
}

describe('secret variables in the console', () => {
  it(
    'sends a value marked secret from the Run form to the node; the job page shows *** to the admin and a viewer',
    async () => {
      await login(suite.page, suite.stack.url, ADMIN);
      await suite.page.goto(`${suite.stack.url}/run`);
      await suite.page
        .locator('input[data-testid=run-command], [data-testid=run-command] input')
        .fill('echo "got:$DB_PASSWORD:$MODE"');
      await suite.page.getByTestId('target-all').click();
      await suite.page.getByTestId('env-add').click();
      await suite.page.getByTestId('env-add').click();
      await field(0, 'env-name').fill('MODE');
      await field(0, 'env-value').fill('plain-visible');
      await field(1, 'env-name').fill('DB_PASSWORD');
      await suite.page.getByTestId('env-row').nth(1).getByTestId('env-secret').click();
      await field(1, 'env-value').fill(SECRET);
      // Typed into a password field: the browser does not show it.
      expect(await field(1, 'env-value').getAttribute('type')).toBe('password');
      await screenshot(suite.page, '30-run-secret-env');

      const jobId = (await submitRunForm(suite.page)).split('/').at(-1) ?? '';

      // Delivered: the node's process printed it.
      const [pane] = await waitForPanes(
        suite.page,
        (all) => all.length === 1 && (all[0]?.text.includes('got:') ?? false),
      );
      expect(pane?.text).toContain(`got:${SECRET}:plain-visible`);
      const shown = await suite.page.getByTestId('job-env').textContent();
      expect(shown).toContain('MODE=plain-visible');
      expect(shown).toContain('DB_PASSWORD=***');
      expect(shown).not.toContain(SECRET);
      expect(await suite.page.getByTestId('job-secret-env').textContent()).toBe('DB_PASSWORD=***');
      await screenshot(suite.page, '31-job-secret-env');

      // The audit log names the variable, not its value.
      await suite.page.goto(`${suite.stack.url}/admin`);
      await suite.page.locator('.el-tabs__item', { hasText: 'Audit log' }).click();
      const created = suite.page
        .locator('.el-table__row', { has: suite.page.locator('[data-testid=audit-row][data-action="job.create"]') })
        .first();
      await created.waitFor();
      expect(await created.textContent()).toContain('secretEnv=DB_PASSWORD=***');
      const auditTable = await evaluate(
        suite.page,
        `document.querySelector('.el-table')?.textContent ?? ''`,
        z.string(),
      );
      expect(auditTable).not.toContain(SECRET);

      // A viewer sees the same page and the same API answer.
      await logout(suite.page);
      await login(suite.page, suite.stack.url, VIEWER);
      await suite.page.goto(`${suite.stack.url}/jobs/${jobId}`);
      await suite.page.getByTestId('job-secret-env').waitFor();
      expect(await suite.page.getByTestId('job-secret-env').textContent()).toBe('DB_PASSWORD=***');
      const response = await suite.page.request.get(`${suite.stack.url}/api/v1/jobs/${jobId}`);
      const body = await response.text();
      expect(body).not.toContain(SECRET);
      expect(jobDtoSchema.parse(JSON.parse(body)).secretEnv).toEqual({ DB_PASSWORD: '***' });
      await logout(suite.page);
    },
    TEST_TIMEOUT_MS,
  );
});
