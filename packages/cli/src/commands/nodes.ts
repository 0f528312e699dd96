import { nodeDtoSchema, nodeUsage, type NodeDto } from '@edgestelle/protocol';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { connect } from '../credentials.ts';
import { formatAge, formatTable, formatTags } from '../format.ts';
import { parseTags } from '../parse-args.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';

export const nodeListSchema = z.object({ items: z.array(nodeDtoSchema) });

interface NodesFlags {
  tag?: string[];
  status?: 'online' | 'offline';
  json?: boolean;
  quiet?: boolean;
}

/** Returns the `nodes` command, for the admin verbs under it (node-admin.ts). */
export function addNodesVerb(program: Command, terminal: Terminal): Command {
  return program
    .command('nodes')
    .description('list enrolled nodes with their status, tags and facts')
    .option('--tag <key=value>', 'only nodes with this tag (repeatable: all must match)', collect)
    .addOption(new Option('--status <status>', 'only online or offline nodes').choices(['online', 'offline']))
    .option('--json', 'print the nodes as JSON (the API’s NodeDto list)')
    .option('-q, --quiet', 'print node ids only, one a line')
    .addHelpText(
      'after',
      `
LOAD is the 1-minute load average per CPU, MEM and DISK how full memory and the agent's disk
are, as the console's fleet page shows them; '-' until the node has reported.
${examples(
  'edgestelle nodes',
  'edgestelle nodes --tag site=berlin --status online',
  'edgestelle nodes -q | wc -l',
  'edgestelle nodes tag edge-01 rack=4 role=gateway',
)}`,
    )
    .action(async (flags: NodesFlags) => {
      const tags = parseTags(flags.tag ?? []);
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/nodes', nodeListSchema, {
        online: flags.status === undefined ? undefined : flags.status === 'online',
        tag: Object.entries(tags).map(([key, value]) => `${key}=${value}`),
      });
      const nodes = [...items].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
      if (flags.json === true) printJson(terminal, nodes);
      else if (flags.quiet === true) terminal.stdout.write(nodes.map((node) => `${node.nodeId}\n`).join(''));
      else terminal.stdout.write(`${formatNodes(nodes, Date.now())}\n`);
    });
}

export function formatNodes(nodes: readonly NodeDto[], nowMs: number): string {
  if (nodes.length === 0) return 'No nodes match.';
  return formatTable(
    ['NODE', 'NAME', 'STATUS', 'LOAD', 'MEM', 'DISK', 'TAGS', 'OS', 'ARCH', 'AGENT', 'LAST SEEN'],
    nodes.map((node) => [
      node.nodeId,
      node.name,
      node.revokedAt !== null ? 'revoked' : node.online ? 'online' : 'offline',
      ...usageColumns(node),
      formatTags(node.tags),
      node.facts === null ? '-' : `${node.facts.os} ${node.facts.osRelease}`.trim(),
      node.facts?.arch ?? '-',
      node.facts?.agentVersion ?? '-',
      node.online ? 'now' : formatAge(node.lastSeenAt, nowMs),
    ]),
  );
}

/** Percentages of the console's fractions; load may pass 100%. */
function usageColumns(node: NodeDto): string[] {
  const usage = nodeUsage(node);
  return [usage.load, usage.memory, usage.disk].map((f) => (f === null ? '-' : `${Math.round(f * 100)}%`));
}
