import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { z } from 'zod';

/**
 * Browser-side reads are plain expressions evaluated in the page; their results are parsed
 * here by schemas, so the tests need no DOM typings and trust nothing unparsed.
 */
const paneSchema = z.array(z.object({ runId: z.string(), label: z.string(), text: z.string() }));
const PANES = `[...document.querySelectorAll('[data-testid=terminal-pane]')].map((pane) => ({
  runId: pane.dataset.runId ?? '',
  label: pane.querySelector('.label')?.textContent ?? '',
  text: pane.querySelector('[data-testid=terminal]').readTerminalText(),
}))`;

export interface Pane {
  runId: string;
  label: string;
  text: string;
}

/** The text of every terminal pane, read from the xterm buffer (not from pixels). */
export async function readPanes(page: Page): Promise<Pane[]> {
  return paneSchema.parse(await page.evaluate(PANES));
}

/** Polls the panes until `done` holds; bounded in time. */
export async function waitForPanes(page: Page, done: (panes: Pane[]) => boolean, timeoutMs = 30_000): Promise<Pane[]> {
  const deadline = Date.now() + timeoutMs;
  let last: Pane[] = [];
  for (;;) {
    last = await readPanes(page);
    if (done(last)) return last;
    if (Date.now() > deadline) throw new Error(`terminal panes not as expected in time: ${JSON.stringify(last)}`);
    await page.waitForTimeout(100);
  }
}

export async function evaluate<T>(page: Page, expression: string, schema: z.ZodType<T>): Promise<T> {
  return schema.parse(await page.evaluate(expression));
}

export async function login(page: Page, baseUrl: string, user: { username: string; password: string }): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.locator('input[name=username]').fill(user.username);
  await page.locator('input[name=password]').fill(user.password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

export async function logout(page: Page): Promise<void> {
  await page.getByTestId('logout').click();
  await page.waitForURL((url) => url.pathname.startsWith('/login'));
}

/** An Element Plus input or textarea by its test id, which lands on the native element or its wrapper. */
export function formField(scope: Page | Locator, testId: string): Locator {
  return scope.locator(
    [`input`, `textarea`]
      .flatMap((tag) => [`${tag}[data-testid=${testId}]`, `[data-testid=${testId}] ${tag}`])
      .join(', '),
  );
}

/** Confirms the Element Plus message box that is open. */
/** Submits the Run form, confirms, and returns the path of the job page it lands on. */
export async function submitRunForm(page: Page): Promise<string> {
  await page.getByTestId('run-submit').click();
  await confirmDialog(page);
  await page.waitForURL((url) => url.pathname.startsWith('/jobs/'));
  return new URL(page.url()).pathname;
}

export async function confirmDialog(page: Page): Promise<void> {
  await page.locator('.el-message-box__btns .el-button--primary').click();
}

export const artifactsDir = join(import.meta.dirname, '..', '..', 'test-artifacts', 'screens');

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  // Let transitions and the terminal's fit settle; the shot is an artefact, not an assertion.
  await page.waitForTimeout(300);
  await page.screenshot({ path });
  return path;
}
