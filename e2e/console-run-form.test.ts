import { jobDtoSchema } from '@edgestelle/protocol';
import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { confirmDialog, formField, login, screenshot, waitForPanes } from './harness/console-page.ts';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import { ADMIN, startConsoleStack } from './harness/stack.ts';

/**
 * The Run form's working directory, arguments and PTY fields, and its default timeout (the
 * CLI's), in real Chromium against a real master and agent.
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

describe('the Run form', () => {
  it('runs with a working directory, literal arguments and a PTY, under the 10-minute default timeout', async () => {
    await login(page, stack.url, ADMIN);
    await page.goto(`${stack.url}/run`);
    await formField(page, 'run-command').fill(`printf '[%s]' "$@"; echo; pwd; test -t 1 && echo on-a-tty`);
    await page.getByTestId('target-all').click();
    await formField(page, 'run-cwd').fill('relative/dir');
    await page.getByText('The working directory must be an absolute path').waitFor();
    await formField(page, 'run-cwd').fill('/tmp');
    await formField(page, 'run-args').fill('two words\n$HOME');
    await page.getByTestId('run-pty').click();
    await screenshot(page, '40-run-form-spec-fields');

    await page.getByTestId('run-submit').click();
    await confirmDialog(page);
    await page.waitForURL((url) => url.pathname.startsWith('/jobs/'));
    const jobId = new URL(page.url()).pathname.split('/').at(-1) ?? '';
    const [pane] = await waitForPanes(page, (all) => all.length === 1 && (all[0]?.text.includes('on-a-tty') ?? false));
    expect(pane?.text).toContain('[two words][$HOME]');
    expect(pane?.text).toContain('/tmp');

    const job = jobDtoSchema.parse(await (await page.request.get(`${stack.url}/api/v1/jobs/${jobId}`)).json());
    expect(job.spec).toMatchObject({ cwd: '/tmp', args: ['two words', '$HOME'], pty: true, timeoutMs: 600_000 });
  }, 90_000);
});
