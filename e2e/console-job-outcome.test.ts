import { waitFor } from '@edgestelle/fleet-fixture';
import { describe, expect, it } from 'vitest';
import { login, screenshot } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/** A job's outcome in the console (a tag in the history list and on the job page, a filter) and an online-only job's left-out targets, in real Chromium. */

const suite = new ConsoleSuite(['edge-1']);

describe('job outcome in the console', () => {
  it('tags a failed job failed and a good one succeeded, in the history and on the job page, and filters on it', async () => {
    const failed = await suite.stack.admin.createJob({
      target: { all: true },
      spec: { command: 'exit 4', timeoutMs: 30_000 },
    });
    const good = await suite.stack.admin.createJob({
      target: { all: true },
      spec: { command: 'true', timeoutMs: 30_000 },
    });
    await login(suite.page, suite.stack.url, ADMIN);

    for (const [job, outcome] of [
      [failed, 'failed'],
      [good, 'succeeded'],
    ] as const) {
      await suite.page.goto(`${suite.stack.url}/jobs/${job.jobId}`);
      const tag = suite.page.getByTestId('job-outcome');
      // The page follows the job live: the tag appears once it ends.
      await tag.waitFor({ timeout: 30_000 });
      expect(await tag.getAttribute('data-outcome')).toBe(outcome);
      expect((await tag.textContent())?.trim()).toBe(outcome);
    }

    await suite.page.goto(`${suite.stack.url}/history`);
    const rows = suite.page.locator('.job-row');
    await expect
      .poll(() => suite.page.locator('.job-row [data-testid=job-outcome]').count(), { timeout: 30_000 })
      .toBe(2);
    // Newest first: the good job, then the failed one.
    expect(await rows.nth(0).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('succeeded');
    expect(await rows.nth(1).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('failed');
    await screenshot(suite.page, '40-history-outcome');

    // The outcome filter, from the address as a bookmark would give it.
    await suite.page.goto(`${suite.stack.url}/history?outcome=failed`);
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1);
    expect(await rows.nth(0).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('failed');
  }, 90_000);

  it('lists the targets an online-only job left out on its page', async () => {
    const away = await suite.stack.startAgent('edge-2');
    await away.stop();
    await waitFor('edge-2 offline', async () => !(await suite.stack.master.nodes.get('edge-2')).online);
    const job = await suite.stack.admin.createJob({
      target: { all: true },
      spec: { command: 'true', timeoutMs: 30_000 },
      onlineOnly: true,
    });
    await suite.page.goto(`${suite.stack.url}/jobs/${job.jobId}`);
    const leftOut = suite.page.getByTestId('job-left-out');
    await leftOut.waitFor({ timeout: 30_000 });
    expect(await leftOut.locator('.tag-chip').allTextContents()).toEqual(['edge-2']);
  }, 90_000);
});
