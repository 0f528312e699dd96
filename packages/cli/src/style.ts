/** ANSI colour for the CLI's own text (node prefixes), never for node output, which is escaped or passed raw. */

const PALETTE = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94, 31, 91] as const;

export type Colour = number;

/** A node keeps its colour across runs and machines: the colour comes from a hash of its id (FNV-1a). */
export function nodeColour(nodeId: string): Colour {
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i += 1) {
    hash ^= nodeId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return PALETTE[hash % PALETTE.length] ?? 36;
}

export function paint(text: string, colour: Colour): string {
  return `\x1b[${colour}m${text}\x1b[0m`;
}

/** Colour when the stream is a terminal, unless NO_COLOR is set (no-color.org), or FORCE_COLOR asks for it. */
export function wantsColour(isTty: boolean, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  return isTty;
}
