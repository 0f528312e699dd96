import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { confirmDialog, login, screenshot } from './harness/console-page.ts';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { ADMIN, startConsoleStack } from './harness/stack.ts';

/**
 * Rollouts in waves in the console, in real Chromium against a real master and three agents:
 * the job page shows the waves and the gate, approves the next wave, pauses and cancels.
 */

let stack: InProcessMaster;
let profile: TempDir;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack(['wave-1', 'wave-2', 'wave-3']);
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

const TEST_TIMEOUT_MS = 90_000;

async function waveStates(): Promise<Array<string | null>> {
  const waves = page.getByTestId('wave');
  const states: Array<string | null> = [];
  for (let i = 0; i < (await waves.count()); i += 1) states.push(await waves.nth(i).getAttribute('data-state'));
  return states;
}

function jobState(state: string) {
  return page.locator(`[data-testid=job-state][data-state=${state}]`);
}

describe('rollouts in the console', () => {
  it(
    'shows the waves and the gate, and approving starts the next wave',
    async () => {
      const job = await stack.admin.createJob({
        target: { all: true },
        spec: { command: 'echo wave', timeoutMs: 30_000 },
        rollout: { waves: [{ count: 1 }, { percent: 100 }], approve: true },
      });
      await page.goto(`${stack.url}/jobs/${job.jobId}`);
      await jobState('paused').waitFor();
      expect(await page.getByTestId('job-paused-reason').innerText()).toContain(
        'wave 1 of 2 ended (0 of 1 run failed): waiting for approval to start wave 2',
      );
      expect(await waveStates()).toEqual(['gate', 'pending']);
      expect(await page.getByTestId('rollout').innerText()).toContain('1 · 100%');
      expect(await page.getByTestId('resume-job').innerText()).toBe('Approve wave 2');
      await screenshot(page, 'job-rollout-gate');

      await page.getByTestId('resume-job').click();
      await jobState('finished').waitFor();
      expect(await waveStates()).toEqual(['passed', 'passed']);
      expect(await page.getByTestId('job-paused-reason').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the Run form starts a rollout in waves; cancelling at the gate leaves the rest not started',
    async () => {
      await page.goto(`${stack.url}/run`);
      await page.locator('input[data-testid=run-command], [data-testid=run-command] input').fill('echo from-form');
      await page.getByTestId('target-all').click();
      await page.locator('input[data-testid=run-waves], [data-testid=run-waves] input').fill('1,50%');
      expect(await page.locator('.el-alert').innerText()).toContain('end with 100% (not 50%)');
      await page.locator('input[data-testid=run-waves], [data-testid=run-waves] input').fill('1,100%');
      await page.getByTestId('run-approve').click();
      await screenshot(page, 'run-form-waves');
      await page.getByTestId('run-submit').click();
      await confirmDialog(page);
      await jobState('paused').waitFor();
      expect(await waveStates()).toEqual(['gate', 'pending']);

      await page.getByTestId('cancel-job').click();
      await confirmDialog(page);
      await jobState('cancelled').waitFor();
      expect(await waveStates()).toEqual(['gate', 'skipped']);
      const notStarted = page.locator('[data-testid=run-tile][data-state=not_started]');
      await notStarted.nth(1).waitFor();
      expect(await notStarted.count()).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'pauses a running job and cancels it while paused',
    async () => {
      const job = await stack.admin.createJob({
        target: { all: true },
        spec: { command: 'sleep 2', timeoutMs: 30_000 },
        concurrency: { count: 1 },
      });
      await page.goto(`${stack.url}/jobs/${job.jobId}`);
      await page.getByTestId('pause-job').click();
      await jobState('paused').waitFor();
      expect(await page.getByTestId('job-paused-reason').innerText()).toContain('paused by admin');
      expect(await page.getByTestId('rollout').count()).toBe(0);
      await page.getByTestId('cancel-job').click();
      await confirmDialog(page);
      await jobState('cancelled').waitFor();
      expect(await page.getByTestId('resume-job').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
