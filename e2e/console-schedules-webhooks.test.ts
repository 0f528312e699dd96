import { scriptSaveSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { confirmDialog } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { startReceiver } from '../packages/master/test/support/webhook-receiver.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The Schedules page and the admin's Webhooks tab in real Chromium against a real master with a
 * real agent: the cron helper's next fire times in the chosen zone, create, pause, resume, run
 * now and the fire history with its job, delete; a webhook to a real local receiver, its secret
 * shown once, its deliveries.
 */

const suite = new ConsoleSuite(['sched-edge-1'], ADMIN);

function field(testId: string) {
  return suite.page.locator(`input[data-testid=${testId}], [data-testid=${testId}] input`);
}

describe('console: schedules', () => {
  it('creates a schedule with the cron helper, pauses, resumes, fires it by hand and deletes it', async () => {
    await suite.page.goto(`${suite.stack.url}/schedules`);
    await suite.page.getByTestId('schedule-new').click();
    await field('schedule-form-name').fill('nightly');
    await field('schedule-form-cron').fill('30 2 * *');
    await suite.page.getByTestId('schedule-preview').getByText('Not a valid 5-field cron expression yet').waitFor();
    await field('schedule-form-cron').fill('30 2 * * *');
    await suite.page.getByTestId('schedule-form-tz').click();
    await suite.page.keyboard.type('Europe/Berl');
    await suite.page
      .locator('.el-select-dropdown__item')
      .filter({ visible: true, hasText: 'Europe/Berlin' })
      .first()
      .click();
    // Five fire times, read in Berlin: 02:30 at UTC+1 or UTC+2.
    const times = suite.page.getByTestId('schedule-preview').locator('li');
    await expect
      .poll(async () => (await times.allTextContents()).filter((text) => / 02:30 GMT\+[12]$/.test(text)).length, {
        timeout: 10_000,
      })
      .toBe(5);
    await field('schedule-form-command').fill('echo from-the-console');
    await suite.page.getByTestId('schedule-form-save').click();

    const row = suite.page.getByTestId('schedules-table').locator('tr', { hasText: 'nightly' });
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('active');
    await suite.page.getByTestId('schedule-detail').getByTestId('schedule-next').locator('li').nth(4).waitFor();

    await row.getByTestId('schedule-pause').click();
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('paused');
    await row.getByTestId('schedule-resume').click();
    await expect.poll(() => row.getByTestId('schedule-state').textContent()).toBe('active');

    await row.getByTestId('schedule-run').click();
    const jobLink = suite.page.getByTestId('schedule-fires').getByTestId('schedule-fire-job').first();
    await jobLink.waitFor({ timeout: 15_000 });
    const href = await jobLink.getAttribute('href');
    expect(href).toMatch(/^\/jobs\/[0-9a-z]{26}$/);
    await jobLink.click();
    await expect.poll(() => suite.page.getByTestId('job-schedule').textContent()).toBe('by schedule nightly');
    await suite.page.goBack();
    await expect
      .poll(async () => (await suite.stack.master.dispatcher.job(href!.slice('/jobs/'.length))).finishedAt !== null, {
        timeout: 20_000,
      })
      .toBe(true);

    await row.getByTestId('schedule-delete').click();
    await confirmDialog(suite.page);
    await expect.poll(() => suite.page.getByTestId('schedule-name').count()).toBe(0);
  }, 90_000);

  it('schedules a library script with its params', async () => {
    await suite.stack.master.scripts.save(
      'greet',
      scriptSaveSchema.parse({
        interpreter: 'sh',
        body: 'echo "hi $PARAM_WHO"',
        parameters: [{ name: 'who', type: 'string', required: true }],
      }),
      { name: 'admin', ip: null },
    );
    await suite.page.goto(`${suite.stack.url}/schedules`);
    await suite.page.getByTestId('schedule-new').click();
    await field('schedule-form-name').fill('greeter');
    await suite.page.getByText('Library script').click();
    await suite.page.getByTestId('schedule-form-script').click();
    await suite.page.locator('.el-select-dropdown__item').filter({ visible: true, hasText: 'greet' }).first().click();
    await suite.page
      .locator('textarea[data-testid=schedule-form-params], [data-testid=schedule-form-params] textarea')
      .fill('who=ops team');
    await suite.page.getByTestId('schedule-form-save').click();
    await suite.page.getByTestId('schedule-detail').waitFor();
    const saved = await suite.stack.master.schedules.detail('greeter');
    expect(saved.job).toMatchObject({ script: { name: 'greet' }, params: { who: 'ops team' } });
  }, 60_000);

  it('adds a webhook (secret shown once), shows its deliveries and deletes it', async () => {
    await using receiver = await startReceiver();
    await suite.page.goto(`${suite.stack.url}/admin`);
    await suite.page.locator('#tab-webhooks').click();
    await field('webhook-url').fill(receiver.url);
    await suite.page.getByTestId('webhook-create').click();
    await expect.poll(() => suite.page.getByTestId('webhook-secret').textContent()).toMatch(/^[0-9a-f]{64}$/);
    await expect.poll(() => suite.page.getByTestId('webhook-row').textContent()).toBe(receiver.url);

    const job = await suite.stack.admin.createJob({
      target: { all: true },
      spec: { command: 'true', timeoutMs: 10_000 },
    });
    await expect.poll(() => receiver.received.length, { timeout: 20_000 }).toBe(1);
    expect(receiver.received[0]!.body).toContain(job.jobId);
    await suite.page.getByTestId('webhook-deliveries').click();
    await expect.poll(() => suite.page.getByTestId('webhook-delivery-state').textContent()).toBe('delivered');

    await suite.page.getByTestId('webhook-delete').click();
    await confirmDialog(suite.page);
    await expect.poll(() => suite.page.getByTestId('webhook-row').count()).toBe(0);
  }, 60_000);
});
