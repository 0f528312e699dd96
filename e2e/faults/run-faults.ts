/**
 * `npm run test:faults`: the fault and attack suite at its long sizes
 * (EDGESTELLE_FAULT_SCALE=long unless set), then the table of what each scenario injected and
 * what was lost or doubled. Extra arguments go to vitest (e.g. a file filter).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const rowSchema = z.object({
  scenario: z.string(),
  load: z.string(),
  faults: z.string(),
  badInputs: z.number(),
  lost: z.number(),
  doubled: z.number(),
  scale: z.string(),
});

const dir = mkdtempSync(join(tmpdir(), 'edgestelle-faults-'));
const report = join(dir, 'report.jsonl');
const files = ['packages/agent/test/faults', 'packages/master/test/faults', 'e2e/faults'];
const result = spawnSync('npx', ['vitest', 'run', ...files, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: {
    ...process.env,
    EDGESTELLE_FAULT_SCALE: process.env.EDGESTELLE_FAULT_SCALE ?? 'long',
    EDGESTELLE_FAULT_REPORT: report,
    EDGESTELLE_TEST_LOG_LEVEL: process.env.EDGESTELLE_TEST_LOG_LEVEL ?? 'silent',
  },
});
let text = '';
try {
  text = readFileSync(report, 'utf8');
} catch (err) {
  if (!(err instanceof Error && 'code' in err && err.code === 'ENOENT')) throw err;
}
rmSync(dir, { recursive: true, force: true });
const rows = text
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => rowSchema.parse(JSON.parse(line)));
const header = ['scenario', 'load', 'faults injected', 'bad inputs tried', 'lost', 'doubled'];
const cells = rows.map((r) => [r.scenario, r.load, r.faults, String(r.badInputs), String(r.lost), String(r.doubled)]);
const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`;
process.stdout.write(
  [
    '',
    `Fault suite, scale ${rows[0]?.scale ?? process.env.EDGESTELLE_FAULT_SCALE ?? 'long'}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
    '',
  ].join('\n'),
);
process.exitCode = result.status ?? 1;
