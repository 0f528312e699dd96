import { tempDir, type TempDir } from '@edgestelle/testkit';
import type { InProcessMaster } from '@edgestelle/fleet-fixture';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type Browser } from './harness/browser.ts';
import { login, logout } from './harness/console-page.ts';
import { ADMIN, VIEWER, startConsoleStack } from './harness/stack.ts';

/**
 * The node page's Shell in real Chromium: xterm.js typing into a real agent's terminal, the
 * exit shown, the session listed and replayed; a viewer gets no Shell button.
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

// The shell and replay pages run under the master's Content-Security-Policy without breaking it.
afterEach(() => {
  expect(browser.violations.splice(0)).toEqual([]);
});

const TEST_TIMEOUT_MS = 90_000;

async function screenText(testId: string): Promise<string> {
  return (await page.getByTestId(testId).locator('.xterm-rows').textContent()) ?? '';
}

async function waitForScreen(testId: string, text: string): Promise<void> {
  await page.getByTestId(testId).locator('.xterm-rows > div', { hasText: text }).first().waitFor({ timeout: 15_000 });
}

async function waitForStatus(text: string | RegExp): Promise<void> {
  await page.getByTestId('shell-status').filter({ hasText: text }).waitFor({ timeout: 15_000 });
}

describe('the console shell', () => {
  it(
    'types into a terminal on the node, shows the exit, and replays the recording',
    async () => {
      await login(page, stack.url, ADMIN);
      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByTestId('open-shell').click();
      await page.getByTestId('shell-terminal').locator('.xterm-rows').waitFor();
      await waitForStatus(/\((native|script)\)/);
      await page.getByTestId('shell-terminal').click();
      await page.keyboard.type('echo console-$((6 * 7))\n');
      await waitForScreen('shell-terminal', 'console-42');
      await page.keyboard.type('exit 6\n');
      await waitForStatus('exit code 6');

      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByTestId('shell-sessions').getByRole('link').first().click();
      await page.waitForSelector('[data-testid="shell-replay"][data-done="true"]', { timeout: 15_000 });
      expect(await screenText('shell-replay')).toContain('console-42');
      await logout(page);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'gives a viewer no Shell button',
    async () => {
      await login(page, stack.url, VIEWER);
      await page.goto(`${stack.url}/nodes/edge-1`);
      await page.getByText('edge-1').first().waitFor();
      expect(await page.getByTestId('open-shell').count()).toBe(0);
      await logout(page);
    },
    TEST_TIMEOUT_MS,
  );
});
