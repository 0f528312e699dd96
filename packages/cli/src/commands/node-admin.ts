import { nodeDtoSchema } from '@edgestelle/protocol';
import type { Command } from 'commander';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatTags } from '../format.ts';
import { parseNodeId, parseTags } from '../parse-args.ts';
import type { Terminal } from '../terminal.ts';
import { examples } from './help.ts';

function nodePath(nodeId: string): string {
  return `/api/v1/nodes/${encodeURIComponent(parseNodeId(nodeId, 'NODE'))}`;
}

/** `nodes tag | untag | revoke | forget` (admin), under the `nodes` listing. */
export function addNodeAdminVerbs(nodes: Command, terminal: Terminal): void {
  nodes
    .command('tag')
    .description('set tags on a node (admin); other tags stay')
    .argument('<node>', 'node id')
    .argument('<key=value...>', 'tags to set or change')
    .addHelpText(
      'after',
      `
A tag the agent's own config sets wins over tags set here: changing one is refused, change it
in the agent's config instead.
${examples('edgestelle nodes tag edge-01 rack=4', 'edgestelle nodes tag edge-01 role=gateway site=berlin')}`,
    )
    .action(async (nodeId: string, pairs: string[]) => {
      const setTags = parseTags(pairs, 'key=value');
      const { api } = await connect(terminal.env);
      const node = await api.patch(nodePath(nodeId), nodeDtoSchema, { setTags });
      terminal.stderr.write(`${node.nodeId}: ${formatTags(node.tags)}\n`);
    });
  nodes
    .command('untag')
    .description('remove tags from a node by key (admin); a key it does not have is no error')
    .argument('<node>', 'node id')
    .argument('<key...>', 'tag keys to remove')
    .addHelpText('after', examples('edgestelle nodes untag edge-01 rack', 'edgestelle nodes untag edge-01 role site'))
    .action(async (nodeId: string, keys: string[]) => {
      const withValue = keys.find((key) => key.includes('='));
      if (withValue !== undefined) throw usageError(`untag takes keys, not key=value: '${withValue}'`);
      const { api } = await connect(terminal.env);
      const node = await api.patch(nodePath(nodeId), nodeDtoSchema, { removeTags: keys });
      terminal.stderr.write(`${node.nodeId}: ${formatTags(node.tags)}\n`);
    });
  nodes
    .command('revoke')
    .description('end a node’s access at once: its key and broker password stop working (admin)')
    .argument('<node>', 'node id')
    .addHelpText(
      'after',
      `
The node stays listed as revoked, with its history. To enroll the same id again, make it a
join token: edgestelle enroll-token create --node ID. To drop it from the list: nodes forget.
${examples('edgestelle nodes revoke edge-07')}`,
    )
    .action(async (nodeId: string) => {
      const { api } = await connect(terminal.env);
      const node = await api.post(`${nodePath(nodeId)}/revoke`, nodeDtoSchema);
      terminal.stderr.write(`Revoked ${node.nodeId}; it can no longer connect or run anything.\n`);
    });
  nodes
    .command('forget')
    .description('delete a revoked node’s record; its jobs and runs stay in the history (admin)')
    .argument('<node>', 'node id (revoke it first)')
    .addHelpText('after', examples('edgestelle nodes revoke edge-07 && edgestelle nodes forget edge-07'))
    .action(async (nodeId: string) => {
      const { api } = await connect(terminal.env);
      await api.delete(nodePath(nodeId));
      terminal.stderr.write(`Forgot ${nodeId}; its id may enroll again with any join token.\n`);
    });
}
