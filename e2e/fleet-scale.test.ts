import type { NodeFacts } from '@edgestelle/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { evaluate, screenshot } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The fleet page with 10,000 nodes. They are written straight into the master's database
 * (enrolling 10,000 agents would test the machine, not the page); the page reads them
 * through the real API. Timings are printed as figures, never asserted.
 */

const NODE_COUNT = 10_000;
// Element Plus puts attributes on the <input> itself.
const FILTER = 'input[data-testid=fleet-filter], [data-testid=fleet-filter] input';
const HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">';

const suite = new ConsoleSuite([], ADMIN);

function facts(i: number): NodeFacts {
  return {
    hostname: `edge-${i}.example`,
    os: 'linux',
    osRelease: 'Debian GNU/Linux 12',
    arch: i % 3 === 0 ? 'arm64' : 'x64',
    kernel: '6.1.0',
    agentVersion: '0.1.0',
    tags: {},
    cpuCount: 4,
    loadAvg: [(i % 7) / 2, 1, 1],
    memTotalBytes: 8 * 1024 ** 3,
    memAvailableBytes: ((i % 10) + 1) * 0.5 * 1024 ** 3,
    diskTotalBytes: 64 * 1024 ** 3,
    diskFreeBytes: ((i % 13) + 1) * 4 * 1024 ** 3,
    uptimeSec: 3600 * (i % 48),
    runningRuns: i % 17 === 0 ? 1 : 0,
    maxConcurrentRuns: 4,
    capabilities: { pty: true, runAs: false },
  };
}

// After the suite's own start: the page is opened by the test, once the rows are in.
beforeAll(async () => {
  const now = Date.now();
  const rows = Array.from({ length: NODE_COUNT }, (_, i) => ({
    node_id: `edge-${String(i).padStart(5, '0')}`,
    name: i === 4242 ? HOSTILE_NAME : `edge-${String(i).padStart(5, '0')}`,
    key_epoch: 0,
    mqtt_password_hash: 'not-used',
    base_tags: '{}',
    tags: JSON.stringify({
      site: `site-${i % 20}`,
      ...(i === 4243 ? { note: '<script>window.__pwned=2</script>' } : {}),
    }),
    facts: JSON.stringify(facts(i)),
    online: i % 10 === 0 ? 0 : 1,
    connection_seq: 0,
    beat: 0,
    last_seen_at: now - (i % 10 === 0 ? 3_600_000 : 0),
    enrolled_at: now,
    revoked_at: null,
  }));
  await suite.stack.master.store.db.transaction().execute(async (tx) => {
    for (let i = 0; i < rows.length; i += 500)
      await tx
        .insertInto('nodes')
        .values(rows.slice(i, i + 500))
        .execute();
  });
}, 120_000);

describe('fleet page with 10,000 nodes', () => {
  it('renders only the rows in view, filters, scrolls to the end, and shows hostile names as text', async () => {
    const page = suite.page;
    const started = Date.now();
    await page.goto(`${suite.stack.url}/fleet`);
    await page.getByText(`${NODE_COUNT} of ${NODE_COUNT} nodes`).waitFor({ timeout: 60_000 });
    const loadMs = Date.now() - started;
    const apiMs = await evaluate(
      page,
      `Math.round(performance.getEntriesByType('resource').find((entry) => entry.name.endsWith('/api/v1/nodes'))?.duration ?? -1)`,
      z.number(),
    );
    expect(await page.getByTestId('fleet-counts').textContent()).toContain('9000 online · 1000 offline');
    const rendered = await page.locator('[data-testid=node-row]').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(100);
    await screenshot(page, '09-fleet-10000');

    const filterStarted = Date.now();
    await page.locator(FILTER).fill('edge-0999');
    await page.getByText(`10 of ${NODE_COUNT} nodes`).waitFor();
    const filterMs = Date.now() - filterStarted;
    await page.locator(FILTER).fill('');
    await page.getByText(`${NODE_COUNT} of ${NODE_COUNT} nodes`).waitFor();

    const scrollStarted = Date.now();
    await page.evaluate(`document.querySelector('.virtual-rows').scrollTop = 1e9`);
    await page.locator('[data-node-id="edge-09999"]').waitFor();
    const scrollMs = Date.now() - scrollStarted;

    await page.locator(FILTER).fill('edge-04242');
    await page.getByText(HOSTILE_NAME).waitFor();
    await page.locator(FILTER).fill('edge-04243');
    await page
      .locator('[data-testid=node-row] .tag-chip', { hasText: 'note=<script>window.__pwned=2</script>' })
      .waitFor();
    expect(await evaluate(page, `typeof window.__pwned`, z.string())).toBe('undefined');
    expect(await evaluate(page, `document.querySelectorAll('img[src="x"]').length`, z.number())).toBe(0);
    expect(suite.browser.errors).toEqual([]);
    // The fleet page ran under the master's Content-Security-Policy without breaking it.
    expect(suite.browser.violations).toEqual([]);

    console.log(
      `fleet with ${NODE_COUNT} nodes: first paint ${loadMs} ms (GET /api/v1/nodes ${apiMs} ms), filter ${filterMs} ms, scroll to end ${scrollMs} ms, ${rendered} rows in the DOM`,
    );
  }, 120_000);
});
