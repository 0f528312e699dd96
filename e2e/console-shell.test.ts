import { describe, expect, it } from 'vitest';
import { login, logout } from './harness/console-page.ts';
import { ADMIN, VIEWER } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The node page's Shell in real Chromium: xterm.js typing into a real agent's terminal, the
 * exit shown, the session listed and replayed; a viewer gets no Shell button.
 */

const suite = new ConsoleSuite(['edge-1']);

const TEST_TIMEOUT_MS = 90_000;

async function screenText(testId: string): Promise<string> {
  return (await suite.page.getByTestId(testId).locator('.xterm-rows').textContent()) ?? '';
}

async function waitForScreen(testId: string, text: string): Promise<void> {
  await suite.page
    .getByTestId(testId)
    .locator('.xterm-rows > div', { hasText: text })
    .first()
    .waitFor({ timeout: 15_000 });
}

async function waitForStatus(text: string | RegExp): Promise<void> {
  await suite.page.getByTestId('shell-status').filter({ hasText: text }).waitFor({ timeout: 15_000 });
}

describe('the console shell', () => {
  it(
    'types into a terminal on the node, shows the exit, and replays the recording',
    async () => {
      await login(suite.page, suite.stack.url, ADMIN);
      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByTestId('open-shell').click();
      await suite.page.getByTestId('shell-terminal').locator('.xterm-rows').waitFor();
      await waitForStatus(/\((native|script)\)/);
      await suite.page.getByTestId('shell-terminal').click();
      await suite.page.keyboard.type('echo console-$((6 * 7))\n');
      await waitForScreen('shell-terminal', 'console-42');
      await suite.page.keyboard.type('exit 6\n');
      await waitForStatus('exit code 6');

      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByTestId('shell-sessions').getByRole('link').first().click();
      await suite.page.waitForSelector('[data-testid="shell-replay"][data-done="true"]', { timeout: 15_000 });
      expect(await screenText('shell-replay')).toContain('console-42');
      await logout(suite.page);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'gives a viewer no Shell button',
    async () => {
      await login(suite.page, suite.stack.url, VIEWER);
      await suite.page.goto(`${suite.stack.url}/nodes/edge-1`);
      await suite.page.getByText('edge-1').first().waitFor();
      expect(await suite.page.getByTestId('open-shell').count()).toBe(0);
      await logout(suite.page);
    },
    TEST_TIMEOUT_MS,
  );
});
