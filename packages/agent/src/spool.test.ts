import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { newId } from '@edgestelle/protocol';
import { tempDir } from '@edgestelle/testkit';
import { describe, expect, it } from 'vitest';
import { lossMarker, Spool, type RunSpool } from './spool.ts';

const MiB = 1024 * 1024;
const exitedFields = {
  outcome: 'succeeded' as const,
  exitCode: 0,
  signal: null,
  startedAt: 1,
  endedAt: 2,
  peakRssBytes: null,
};

/** The run's segment files in the spool folder. */
function segmentsOf(dir: string, runId: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith(`${runId}.`));
}

function readAll(spool: Spool, run: RunSpool): string[] {
  const out: string[] = [];
  for (let seq = run.ackedThrough + 1; seq < spool.endSeq(run); seq += 1) {
    const record = spool.read(run, seq);
    if (record === undefined) throw new Error(`missing seq ${seq}`);
    out.push(
      record.kind === 'output'
        ? `${record.seq}:${record.stream}:${record.data.toString()}`
        : `exited:${record.event.seq}`,
    );
  }
  return out;
}

describe('Spool', () => {
  it('keeps chunks and exited across a reopen, in order, with their streams', async () => {
    await using dir = await tempDir();
    const runId = newId();
    const spool = new Spool({ dir: dir.path, maxBytes: MiB });
    const run = spool.createRun(runId);
    spool.appendChunk(run, 'stdout', Buffer.from('a'));
    spool.appendChunk(run, 'stderr', Buffer.from('b'));
    const exited = spool.appendExited(run, exitedFields);
    expect(exited).toMatchObject({ seq: 2, outputBytes: 2, outputTruncated: false });
    spool.close();

    const reopened = new Spool({ dir: dir.path, maxBytes: MiB });
    const again = reopened.get(runId);
    expect(again).toBeDefined();
    if (again === undefined) return;
    expect(readAll(reopened, again)).toEqual(['0:stdout:a', '1:stderr:b', 'exited:2']);
    expect(again.exited).toEqual(exited);
    reopened.close();
  });

  it('cuts a torn tail after a crash and keeps every whole record before it', async () => {
    await using dir = await tempDir();
    const runId = newId();
    const spool = new Spool({ dir: dir.path, maxBytes: MiB });
    const run = spool.createRun(runId);
    spool.appendChunk(run, 'stdout', Buffer.from('one'));
    spool.appendChunk(run, 'stdout', Buffer.from('two'));
    spool.close();
    const segment = join(dir.path, `${runId}.0000000000.seg`);
    const whole = statSync(segment).size;
    truncateSync(segment, whole - 2);
    appendFileSync(segment, Buffer.from([0, 0]));

    const cuts: string[] = [];
    const reopened = new Spool({ dir: dir.path, maxBytes: MiB, onCut: (_runId, detail) => cuts.push(detail) });
    const again = reopened.get(runId);
    if (again === undefined) throw new Error('run lost');
    expect(cuts[0]).toMatch(/CRC mismatch/);
    expect(readAll(reopened, again)).toEqual(['0:stdout:one']);
    expect(statSync(segment).size).toBeLessThan(whole);
    // Appending after the cut continues the numbering where the good records end.
    reopened.appendChunk(again, 'stdout', Buffer.from('three'));
    expect(readAll(reopened, again)).toEqual(['0:stdout:one', '1:stdout:three']);
    reopened.close();
  });

  it('deletes acknowledged segments and the whole run once exited is acknowledged', async () => {
    await using dir = await tempDir();
    const spool = new Spool({ dir: dir.path, maxBytes: 64 * MiB, segmentMaxBytes: 1024 });
    const run = spool.createRun(newId());
    const other = spool.createRun(newId());
    spool.appendChunk(other, 'stdout', Buffer.from('stays'));
    for (let i = 0; i < 10; i += 1) spool.appendChunk(run, 'stdout', Buffer.alloc(600, 65 + i));
    const segmentsBefore = segmentsOf(dir.path, run.runId).length;
    expect(segmentsBefore).toBeGreaterThan(3);
    expect(spool.ack(run, 5)).toBe(false);
    expect(segmentsOf(dir.path, run.runId).length).toBeLessThan(segmentsBefore);
    expect(spool.read(run, 6)?.kind).toBe('output');
    const exited = spool.appendExited(run, exitedFields);
    expect(spool.ack(run, exited.seq - 1)).toBe(false);
    expect(spool.ack(run, exited.seq)).toBe(true);
    expect(readdirSync(dir.path)).toEqual([`${other.runId}.0000000000.seg`]);
    expect(spool.bytes).toBe(statSync(join(dir.path, `${other.runId}.0000000000.seg`)).size);
    spool.close();
  });

  it('reads back a run an older agent spooled in a folder of its own, and removes the folder with the run', async () => {
    await using dir = await tempDir();
    const runId = newId();
    const spool = new Spool({ dir: dir.path, maxBytes: MiB });
    const run = spool.createRun(runId);
    spool.appendChunk(run, 'stdout', Buffer.from('before the upgrade'));
    spool.close();
    // The layout of earlier agents: <spool>/<runId>/<firstSeq>.seg.
    mkdirSync(join(dir.path, runId));
    renameSync(join(dir.path, `${runId}.0000000000.seg`), join(dir.path, runId, '0000000000.seg'));

    const reopened = new Spool({ dir: dir.path, maxBytes: MiB });
    const again = reopened.get(runId);
    if (again === undefined) throw new Error('the older layout was not read back');
    expect(readAll(reopened, again)).toEqual(['0:stdout:before the upgrade']);
    const exited = reopened.appendExited(again, exitedFields);
    expect(readdirSync(join(dir.path, runId))).toEqual(['0000000000.seg']);
    expect(reopened.ack(again, exited.seq)).toBe(true);
    expect(existsSync(join(dir.path, runId))).toBe(false);
    expect(readdirSync(dir.path)).toEqual([]);
    reopened.close();
  });

  it('cuts a run at the cap with one system marker, flags it and drops the rest', async () => {
    await using dir = await tempDir();
    const spool = new Spool({ dir: dir.path, maxBytes: MiB });
    const run = spool.createRun(newId());
    const results = new Set<string>();
    for (let i = 0; i < 100; i += 1) results.add(spool.appendChunk(run, 'stdout', Buffer.alloc(32 * 1024, 120)));
    expect([...results]).toEqual(['written', 'cut', 'dropped']);
    expect(spool.bytes).toBeLessThanOrEqual(MiB + 1024);
    const exited = spool.appendExited(run, exitedFields);
    expect(exited.outputTruncated).toBe(true);
    expect(exited.outputBytes).toBe(100 * 32 * 1024);
    const marker = spool.read(run, exited.seq - 1);
    expect(marker?.kind === 'output' && marker.stream).toBe('system');
    spool.close();
  });

  it('skips and sets aside what is not a regular file in a run folder, and goes on from where the run was cut', async () => {
    await using dir = await tempDir();
    const runId = newId();
    // An earlier agent's run folder whose second segment is a directory now.
    mkdirSync(join(dir.path, runId));
    const spool = new Spool({ dir: join(dir.path, 'first'), maxBytes: MiB, segmentMaxBytes: 1 });
    const run = spool.createRun(runId);
    spool.appendChunk(run, 'stdout', Buffer.from('kept'));
    spool.appendChunk(run, 'stdout', Buffer.from('lost'));
    spool.close();
    renameSync(join(dir.path, 'first', `${runId}.0000000000.seg`), join(dir.path, runId, '0000000000.seg'));
    mkdirSync(join(dir.path, runId, '0000000001.seg'));

    const cuts: string[] = [];
    const reopened = new Spool({ dir: dir.path, maxBytes: MiB, onCut: (_runId, detail) => cuts.push(detail) });
    const again = reopened.get(runId);
    if (again === undefined) throw new Error('run lost');
    expect(again.lost).toEqual({ fromSeq: 1, reason: 'a directory' });
    expect(cuts).toEqual([
      expect.stringMatching(/0000000001\.seg: a directory, not a segment: moved to .*\.unusable$/),
    ]);
    reopened.appendLossMarker(again, 3);
    const exited = reopened.appendExited(again, exitedFields);
    expect(exited).toMatchObject({ seq: 2, outputTruncated: true });
    expect(readAll(reopened, again)).toEqual([
      '0:stdout:kept',
      `1:system:${lossMarker(1, 2, 'a directory').toString()}`,
      'exited:2',
    ]);
    reopened.close();
  });

  it('recovers a run whose segment is a symlink without opening it, and goes on where the run was cut', async () => {
    await using dir = await tempDir();
    const spoolDir = join(dir.path, 'spool');
    const target = join(dir.path, 'outside');
    writeFileSync(target, "not the agent's");
    const runId = newId();
    mkdirSync(spoolDir);
    symlinkSync(target, join(spoolDir, `${runId}.0000000007.seg`));

    const spool = new Spool({ dir: spoolDir, maxBytes: MiB });
    const run = spool.get(runId);
    if (run === undefined) throw new Error('the run behind the symlink was not recovered');
    // Seqs before 7 were acknowledged (their segments are gone): the run goes on at 7.
    expect(run.lost).toEqual({ fromSeq: 7, reason: 'a symbolic link' });
    expect(spool.endSeq(run)).toBe(7);
    spool.appendLossMarker(run, undefined);
    expect(spool.appendExited(run, exitedFields).seq).toBe(8);
    expect(readAll(spool, run)).toEqual([
      `7:system:${lossMarker(7, undefined, 'a symbolic link').toString()}`,
      'exited:8',
    ]);
    spool.close();
    expect(readFileSync(target, 'utf8')).toBe("not the agent's");
    expect(readdirSync(spoolDir).filter((name) => name.endsWith('.unusable'))).toHaveLength(1);
  });

  it('never writes through a symlink planted where a new segment goes', async () => {
    await using dir = await tempDir();
    const spoolDir = join(dir.path, 'spool');
    const target = join(dir.path, 'outside');
    writeFileSync(target, "not the agent's");
    const spool = new Spool({ dir: spoolDir, maxBytes: MiB });
    const runId = newId();
    symlinkSync(target, join(spoolDir, `${runId}.0000000000.seg`));
    const run = spool.createRun(runId);
    spool.appendChunk(run, 'stdout', Buffer.from('mine'));
    expect(readAll(spool, run)).toEqual(['0:stdout:mine']);
    expect(lstatSync(join(spoolDir, `${runId}.0000000000.seg`)).isFile()).toBe(true);
    spool.close();
    expect(readFileSync(target, 'utf8')).toBe("not the agent's");
  });
});
