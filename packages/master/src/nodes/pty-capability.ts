import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { slices } from '../runs/ingest.ts';
import { parseFacts } from './node-dto.ts';

/**
 * Refuses work that needs a terminal on nodes whose last facts say they cannot give one, before
 * anything is stored, so the operator hears it at once and not as a rejected run later. A node
 * that never reported its facts is left to its agent, which refuses the run itself.
 */
export async function assertPtyCapable(db: Kysely<Database>, nodeIds: readonly string[], field: string): Promise<void> {
  const without: string[] = [];
  for (const part of slices([...nodeIds], 500)) {
    const rows = await db.selectFrom('nodes').select(['node_id', 'facts']).where('node_id', 'in', part).execute();
    for (const row of rows) {
      if (row.facts !== null && !parseFacts(row.facts).capabilities.pty) without.push(row.node_id);
    }
  }
  if (without.length === 0) return;
  const shown = without.slice(0, 20).join(', ') + (without.length > 20 ? ` and ${without.length - 20} more` : '');
  throw new MasterError(
    MasterErrorCode.ptyUnavailable,
    `these nodes cannot give a terminal (no node-pty and no script(1) from util-linux): ${shown}; run without a PTY, or install util-linux there`,
    { field },
  );
}
