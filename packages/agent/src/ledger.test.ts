import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId } from '@edgestelle/protocol';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { Ledger, type LedgerEntry } from './ledger.ts';

const SKEW = 1000;

function entry(now: number, state: LedgerEntry['state']): LedgerEntry {
  return { runId: newId(now), jobId: newId(now), deadlineAt: now + 500, receivedAt: now, state };
}

describe('Ledger', () => {
  it('keeps the latest state of every run across a reopen and ignores a torn last line', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'ledger.jsonl');
    const now = Date.now();
    const ledger = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    const run = entry(now, 'accepted');
    ledger.put(run);
    ledger.update(run.runId, { state: 'running', pid: 42, startedAt: now });
    ledger.close();
    appendFileSync(path, '{"runId":"tor');

    const invalid: number[] = [];
    const reopened = new Ledger({ path, now: () => now, maxSkewMs: SKEW, onInvalidLine: (n) => invalid.push(n) });
    expect(reopened.get(run.runId)).toMatchObject({ state: 'running', pid: 42 });
    expect(invalid).toEqual([3]);
    reopened.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('forgets finished runs only after their deadline and the freshness windows have passed', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'ledger.jsonl');
    let now = 1_000_000;
    const first = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    const delivered = entry(now, 'delivered');
    const running = entry(now, 'running');
    first.put(delivered);
    first.put(running);
    first.close();

    now += 2 * SKEW;
    const soon = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    expect(soon.get(delivered.runId)).toBeDefined();
    soon.close();

    now += 2 * SKEW;
    const later = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    expect(later.get(delivered.runId)).toBeUndefined();
    expect(later.get(running.runId)).toBeDefined();
    later.close();
  });

  it('refuses illegal run transitions, so a finished run can never be marked running again', async () => {
    await using dir = await tempDir();
    const now = Date.now();
    const ledger = new Ledger({ path: join(dir.path, 'ledger.jsonl'), now: () => now, maxSkewMs: SKEW });
    const run = entry(now, 'accepted');
    ledger.put(run);
    ledger.update(run.runId, { state: 'running', pid: 7, startedAt: now });
    expect(() => ledger.update(run.runId, { state: 'accepted' })).toThrow(/cannot go from 'running' to 'accepted'/);
    ledger.update(run.runId, { state: 'exited' });
    expect(() => ledger.update(run.runId, { state: 'running' })).toThrow(/cannot go from 'exited' to 'running'/);
    ledger.update(run.runId, { state: 'delivered' });
    expect(ledger.get(run.runId)?.state).toBe('delivered');
    ledger.close();
  });

  it('writes each entry at once, syncs concurrent callers together, and keeps every entry through compactions', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'ledger.jsonl');
    const now = Date.now();
    const ledger = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    const first = entry(now, 'accepted');
    ledger.put(first);
    // In the file before any sync: an agent that dies now leaves it behind.
    expect(readFileSync(path, 'utf8')).toContain(first.runId);
    const sync = ledger.durable();
    // Written before that fdatasync began: it rides along.
    ledger.put(entry(now, 'accepted'));
    expect(ledger.durable()).toBe(sync);
    await Promise.resolve();
    // Written while it is under way: the next one, shared by every caller until it begins.
    ledger.put(entry(now, 'accepted'));
    const next = ledger.durable();
    expect(next).not.toBe(sync);
    expect(ledger.durable()).toBe(next);
    await Promise.all([sync, next]);
    await expect(ledger.durable()).resolves.toBeUndefined();

    // Past the compaction threshold with syncs under way: nothing is lost, nothing duplicated.
    const runs = Array.from({ length: 1500 }, () => entry(now, 'accepted'));
    const syncs: Promise<void>[] = [];
    for (const [i, run] of runs.entries()) {
      ledger.put(run);
      ledger.update(run.runId, { state: 'running', pid: 100 + i, startedAt: now });
      ledger.update(run.runId, { state: 'exited' });
      if (i % 100 === 0) syncs.push(ledger.durable());
    }
    await Promise.all(syncs);
    ledger.close();
    const reopened = new Ledger({ path, now: () => now, maxSkewMs: SKEW });
    expect([...reopened.list()]).toHaveLength(1503);
    for (const [i, run] of runs.entries())
      expect(reopened.get(run.runId)).toMatchObject({ state: 'exited', pid: 100 + i });
    reopened.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1503);
  });
});
