import { tempDir, type TempDir } from '@edgestelle/testkit';
import { scriptSaveSchema } from '@edgestelle/protocol';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { confirmDialog, login } from './harness/console-page.ts';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { ADMIN, startConsoleStack } from './harness/stack.ts';
import { startReceiver } from '../packages/master/test/support/webhook-receiver.ts';

/**
 * The Schedules page and the admin's Webhooks tab in real Chromium against a real master with a
 * real agent: the cron helper's next fire times in the chosen zone, create, pause, resume, run
 * now and the fire history with its job, delete; a webhook to a real local receiver, its secret
 * shown once, its deliveries.
 */

let stack: InProcessMaster;
let profile: TempDir;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack(['sched-edge-1']);
  profile = await tempDir('edgestelle-chromium-');
  browser = await launchBrowser(profile.path);
  page = browser.page;
  await login(page, stack.url, ADMIN);
}, 120_000);

afterAll(async () => {
  await browser?.[Symbol.asyncDispose]();
  await profile?.[Symbol.asyncDispose]();
  await stack?.[Symbol.asyncDispose]();
});

afterEach(() => {
  expect(browser.violations.splice(0)).toEqual([]);
});

function field(testId: string) {
  return page.locator(`input[data-testid=${testId}], [data-testid=${testId}] input`);
}

describe('console: schedules', () => {
  it('creates a schedule with the cron helper, pauses, resumes, fires it by hand and deletes it', async () => {
    await page.goto(`${stack.url}/schedules`);
    await page.getByTestId('schedule-new').click();
    await field('schedule-form-name').fill('nightly');
    await field('schedule-form-cron').fill('30 2 * *');
    await page.getByTestId('schedule-preview').getByText('Not a valid 5-field cron expression yet').waitFor();
    await field('schedule-form-cron').fill('30 2 * * *');
    await page.getByTestId('schedule-form-tz').click();
    await page.keyboard.type('Europe/Berl');
    await page.locator('.el-select-dropdown__item').filter({ visible: true, hasText: 'Europe/Berlin' }).first().click();
    // Five fire times, read in Berlin: 02:30 at UTC+1 or UTC+2.
    const times = page.getByTestId('schedule-preview').locator('li');
    await expect
      .poll(async () => (await times.allTextContents()).filter((text) => / 02:30 GMT\+[12]$/.test(text)).length, {
        timeout: 10_000,
      })
      .toBe(5);
    await field('schedule-form-command').fill('echo from-the-console');
    await page.getByTestId('schedule-form-save').click();

    const row = page.getByTestId('schedules-table').locator('tr', { hasText: 'nightly' });
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('active');
    await page.getByTestId('schedule-detail').getByTestId('schedule-next').locator('li').nth(4).waitFor();

    await row.getByTestId('schedule-pause').click();
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('paused');
    await row.getByTestId('schedule-resume').click();
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('active');

    await row.getByTestId('schedule-run').click();
    const jobLink = page.getByTestId('schedule-fires').getByTestId('schedule-fire-job').first();
    await jobLink.waitFor({ timeout: 15_000 });
    const href = await jobLink.getAttribute('href');
    expect(href).toMatch(/^\/jobs\/[0-9a-z]{26}$/);
    await jobLink.click();
    await expect.poll(() => page.getByTestId('job-schedule').textContent()).toBe('by schedule nightly');
    await page.goBack();
    await expect
      .poll(async () => (await stack.master.dispatcher.job(href!.slice('/jobs/'.length))).finishedAt !== null, {
        timeout: 20_000,
      })
      .toBe(true);

    await row.getByTestId('schedule-delete').click();
    await confirmDialog(page);
    await expect.poll(() => page.getByTestId('schedule-name').count()).toBe(0);
  }, 90_000);

  it('schedules a library script with its params', async () => {
    await stack.master.scripts.save(
      'greet',
      scriptSaveSchema.parse({
        interpreter: 'sh',
        body: 'echo "hi $PARAM_WHO"',
        parameters: [{ name: 'who', type: 'string', required: true }],
      }),
      { name: 'admin', ip: null },
    );
    await page.goto(`${stack.url}/schedules`);
    await page.getByTestId('schedule-new').click();
    await field('schedule-form-name').fill('greeter');
    await page.getByText('Library script').click();
    await page.getByTestId('schedule-form-script').click();
    await page.locator('.el-select-dropdown__item').filter({ visible: true, hasText: 'greet' }).first().click();
    await page
      .locator('textarea[data-testid=schedule-form-params], [data-testid=schedule-form-params] textarea')
      .fill('who=ops team');
    await page.getByTestId('schedule-form-save').click();
    await page.getByTestId('schedule-detail').waitFor();
    const saved = await stack.master.schedules.detail('greeter');
    expect(saved.job).toMatchObject({ script: { name: 'greet' }, params: { who: 'ops team' } });
  }, 60_000);

  it('adds a webhook (secret shown once), shows its deliveries and deletes it', async () => {
    await using receiver = await startReceiver();
    await page.goto(`${stack.url}/admin`);
    await page.locator('#tab-webhooks').click();
    await field('webhook-url').fill(receiver.url);
    await page.getByTestId('webhook-create').click();
    await expect.poll(() => page.getByTestId('webhook-secret').textContent()).toMatch(/^[0-9a-f]{64}$/);
    await expect.poll(() => page.getByTestId('webhook-row').textContent()).toBe(receiver.url);

    const job = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 10_000 } });
    await expect.poll(() => receiver.received.length, { timeout: 20_000 }).toBe(1);
    expect(receiver.received[0]!.body).toContain(job.jobId);
    await page.getByTestId('webhook-deliveries').click();
    await expect.poll(() => page.getByTestId('webhook-delivery-state').textContent()).toBe('delivered');

    await page.getByTestId('webhook-delete').click();
    await confirmDialog(page);
    await expect.poll(() => page.getByTestId('webhook-row').count()).toBe(0);
  }, 60_000);
});
