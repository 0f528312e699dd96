import type { NodeDto } from './api.ts';

export interface NodeUsage {
  /** 1-minute load per CPU; may pass 1. */
  load: number | null;
  memory: number | null;
  disk: number | null;
}

/** Fractions 0..1 (load may pass 1), null where the node has not said: the console's bars and the CLI's `nodes` columns. */
export function nodeUsage(node: NodeDto): NodeUsage {
  const facts = node.facts;
  if (facts === null) return { load: null, memory: null, disk: null };
  const fraction = (used: number, total: number) => (total > 0 ? Math.min(1, Math.max(0, used / total)) : null);
  return {
    load: facts.cpuCount > 0 ? (facts.loadAvg[0] ?? 0) / facts.cpuCount : null,
    memory: fraction(facts.memTotalBytes - facts.memAvailableBytes, facts.memTotalBytes),
    disk: fraction(facts.diskTotalBytes - facts.diskFreeBytes, facts.diskTotalBytes),
  };
}
