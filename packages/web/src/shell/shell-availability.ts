import type { NodeDto } from '@edgestelle/protocol';

/** Why the node cannot give a shell now (a message key), or null when it can. */
export function shellUnavailable(node: NodeDto): 'shellOffline' | 'shellOldAgent' | 'shellNoPty' | null {
  if (!node.online) return 'shellOffline';
  const capabilities = node.facts?.capabilities;
  if (capabilities?.shell !== true) return 'shellOldAgent';
  if (!capabilities.pty) return 'shellNoPty';
  return null;
}

export function shellUrl(
  location: { protocol: string; host: string },
  nodeId: string,
  cols: number,
  rows: number,
): string {
  const query = new URLSearchParams({ cols: String(cols), rows: String(rows), term: 'xterm-256color' });
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/nodes/${encodeURIComponent(nodeId)}/shell?${query.toString()}`;
}
