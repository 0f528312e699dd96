import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { evaluate, readPanes, waitForPanes } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The promise the live hub and its client make together: a browser that loses the hub in the
 * middle of a run (here: the master restarts) reconnects and continues from the last chunk it
 * rendered — every line once, in order, without a reload.
 */

const suite = new ConsoleSuite(['edge-1'], ADMIN);

describe('live output across a master restart', () => {
  it('resumes the terminal from the last seq, with no gap and no duplicate', async () => {
    const page = suite.page;
    const lines = 150;
    const job = await suite.stack.admin.createJob({
      target: { nodeIds: ['edge-1'] },
      spec: {
        script: { interpreter: 'bash', body: `for i in $(seq 1 ${lines}); do echo "line $i"; sleep 0.04; done` },
        timeoutMs: 120_000,
      },
    });
    await page.goto(`${suite.stack.url}/jobs/${job.jobId}`);
    await waitForPanes(page, (panes) => panes[0]?.text.includes('line 15') === true);

    await page.evaluate(`window.sameDocument = true`);
    await suite.stack.restart();
    const before = await readPanes(page);
    expect(before[0]?.text).not.toContain(`line ${lines}`);

    const [pane] = await waitForPanes(page, (panes) => panes[0]?.text.includes(`line ${lines}`) === true, 60_000);
    expect(pane?.text.split('\n')).toEqual(Array.from({ length: lines }, (_, i) => `line ${i + 1}`));
    await page.locator('[data-testid=run-tile][data-state=succeeded]').waitFor({ timeout: 30_000 });
    // The page never reloaded: the same document kept its terminal and its socket client.
    expect(await evaluate(page, `window.sameDocument === true`, z.boolean())).toBe(true);
    expect(await page.getByTestId('live-status').getAttribute('class')).toContain('open');
    // The live hub's reconnect stayed within connect-src 'self'.
    expect(suite.browser.violations).toEqual([]);
  }, 120_000);
});
