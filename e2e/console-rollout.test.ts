import { describe, expect, it } from 'vitest';
import { confirmDialog, screenshot } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * Rollouts in waves in the console, in real Chromium against a real master and three agents:
 * the job page shows the waves and the gate, approves the next wave, pauses and cancels.
 */

const suite = new ConsoleSuite(['wave-1', 'wave-2', 'wave-3'], ADMIN);

const TEST_TIMEOUT_MS = 90_000;

async function waveStates(): Promise<Array<string | null>> {
  const waves = suite.page.getByTestId('wave');
  const states: Array<string | null> = [];
  for (let i = 0; i < (await waves.count()); i += 1) states.push(await waves.nth(i).getAttribute('data-state'));
  return states;
}

function jobState(state: string) {
  return suite.page.locator(`[data-testid=job-state][data-state=${state}]`);
}

describe('rollouts in the console', () => {
  it(
    'shows the waves and the gate, and approving starts the next wave',
    async () => {
      const job = await suite.stack.admin.createJob({
        target: { all: true },
        spec: { command: 'echo wave', timeoutMs: 30_000 },
        rollout: { waves: [{ count: 1 }, { percent: 100 }], approve: true },
      });
      await suite.page.goto(`${suite.stack.url}/jobs/${job.jobId}`);
      await jobState('paused').waitFor();
      expect(await suite.page.getByTestId('job-paused-reason').innerText()).toContain(
        'wave 1 of 2 ended (0 of 1 run failed): waiting for approval to start wave 2',
      );
      expect(await waveStates()).toEqual(['gate', 'pending']);
      expect(await suite.page.getByTestId('rollout').innerText()).toContain('1 · 100%');
      expect(await suite.page.getByTestId('resume-job').innerText()).toBe('Approve wave 2');
      await screenshot(suite.page, 'job-rollout-gate');

      await suite.page.getByTestId('resume-job').click();
      await jobState('finished').waitFor();
      expect(await waveStates()).toEqual(['passed', 'passed']);
      expect(await suite.page.getByTestId('job-paused-reason').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the Run form starts a rollout in waves; cancelling at the gate leaves the rest not started',
    async () => {
      await suite.page.goto(`${suite.stack.url}/run`);
      await suite.page
        .locator('input[data-testid=run-command], [data-testid=run-command] input')
        .fill('echo from-form');
      await suite.page.getByTestId('target-all').click();
      await suite.page.locator('input[data-testid=run-waves], [data-testid=run-waves] input').fill('1,50%');
      expect(await suite.page.locator('.el-alert').innerText()).toContain('end with 100% (not 50%)');
      await suite.page.locator('input[data-testid=run-waves], [data-testid=run-waves] input').fill('1,100%');
      await suite.page.getByTestId('run-approve').click();
      await screenshot(suite.page, 'run-form-waves');
      await suite.page.getByTestId('run-submit').click();
      await confirmDialog(suite.page);
      await jobState('paused').waitFor();
      expect(await waveStates()).toEqual(['gate', 'pending']);

      await suite.page.getByTestId('cancel-job').click();
      await confirmDialog(suite.page);
      await jobState('cancelled').waitFor();
      expect(await waveStates()).toEqual(['gate', 'skipped']);
      const notStarted = suite.page.locator('[data-testid=run-tile][data-state=not_started]');
      await notStarted.nth(1).waitFor();
      expect(await notStarted.count()).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'pauses a running job and cancels it while paused',
    async () => {
      const job = await suite.stack.admin.createJob({
        target: { all: true },
        spec: { command: 'sleep 2', timeoutMs: 30_000 },
        concurrency: { count: 1 },
      });
      await suite.page.goto(`${suite.stack.url}/jobs/${job.jobId}`);
      await suite.page.getByTestId('pause-job').click();
      await jobState('paused').waitFor();
      expect(await suite.page.getByTestId('job-paused-reason').innerText()).toContain('paused by admin');
      expect(await suite.page.getByTestId('rollout').count()).toBe(0);
      await suite.page.getByTestId('cancel-job').click();
      await confirmDialog(suite.page);
      await jobState('cancelled').waitFor();
      expect(await suite.page.getByTestId('resume-job').count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
