import { rssBytes } from '@edgestelle/testkit';
import { median, sleep } from '../lib/stats.ts';

/** Median of one RSS reading a second over `seconds`, after `settleMs`. */
export async function steadyRss(pid: number, seconds: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const readings: number[] = [];
  for (let i = 0; i < Math.max(1, seconds); i += 1) {
    readings.push(rssBytes(pid));
    await sleep(1000);
  }
  return median(readings);
}
