import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { waitFor, type InProcessMaster } from '@edgestelle/fleet-fixture';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { login, screenshot } from './harness/console-page.ts';
import { ADMIN, startConsoleStack } from './harness/stack.ts';

/** A job's outcome in the console (a tag in the history list and on the job page, a filter) and an online-only job's left-out targets, in real Chromium. */

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

describe('job outcome in the console', () => {
  it('tags a failed job failed and a good one succeeded, in the history and on the job page, and filters on it', async () => {
    const failed = await stack.admin.createJob({
      target: { all: true },
      spec: { command: 'exit 4', timeoutMs: 30_000 },
    });
    const good = await stack.admin.createJob({ target: { all: true }, spec: { command: 'true', timeoutMs: 30_000 } });
    await login(page, stack.url, ADMIN);

    for (const [job, outcome] of [
      [failed, 'failed'],
      [good, 'succeeded'],
    ] as const) {
      await page.goto(`${stack.url}/jobs/${job.jobId}`);
      const tag = page.getByTestId('job-outcome');
      // The page follows the job live: the tag appears once it ends.
      await tag.waitFor({ timeout: 30_000 });
      expect(await tag.getAttribute('data-outcome')).toBe(outcome);
      expect((await tag.textContent())?.trim()).toBe(outcome);
    }

    await page.goto(`${stack.url}/history`);
    const rows = page.locator('.job-row');
    await expect.poll(() => page.locator('.job-row [data-testid=job-outcome]').count(), { timeout: 30_000 }).toBe(2);
    // Newest first: the good job, then the failed one.
    expect(await rows.nth(0).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('succeeded');
    expect(await rows.nth(1).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('failed');
    await screenshot(page, '40-history-outcome');

    // The outcome filter, from the address as a bookmark would give it.
    await page.goto(`${stack.url}/history?outcome=failed`);
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(1);
    expect(await rows.nth(0).getByTestId('job-outcome').getAttribute('data-outcome')).toBe('failed');
  }, 90_000);

  it('lists the targets an online-only job left out on its page', async () => {
    const away = await stack.startAgent('edge-2');
    await away.stop();
    await waitFor('edge-2 offline', async () => !(await stack.master.nodes.get('edge-2')).online);
    const job = await stack.admin.createJob({
      target: { all: true },
      spec: { command: 'true', timeoutMs: 30_000 },
      onlineOnly: true,
    });
    await page.goto(`${stack.url}/jobs/${job.jobId}`);
    const leftOut = page.getByTestId('job-left-out');
    await leftOut.waitFor({ timeout: 30_000 });
    expect(await leftOut.locator('.tag-chip').allTextContents()).toEqual(['edge-2']);
  }, 90_000);
});
