import { z } from 'zod';

const headerSchema = z.object({ version: z.literal(2), width: z.number().int(), height: z.number().int() });
const eventSchema = z.tuple([z.number().min(0), z.string(), z.string()]);

export interface Recording {
  cols: number;
  rows: number;
  /** Output and resizes in time order; seconds from the start. */
  events: { at: number; type: 'o' | 'r'; data: string }[];
}

/** An asciicast v2 file, as the master records shell sessions; lines of other types are skipped. */
export function parseAsciicast(text: string): Recording {
  const [first, ...rest] = text.split('\n').filter((line) => line.trim() !== '');
  const header = headerSchema.parse(JSON.parse(first ?? '{}'));
  const events: Recording['events'] = [];
  for (const line of rest) {
    const [at, type, data] = eventSchema.parse(JSON.parse(line));
    if (type === 'o' || type === 'r') events.push({ at, type, data });
  }
  return { cols: header.width, rows: header.height, events };
}

/** `COLSxROWS` of a resize event. */
export function parseSize(data: string): { cols: number; rows: number } | null {
  const match = /^(\d+)x(\d+)$/.exec(data);
  return match === null ? null : { cols: Number(match[1]), rows: Number(match[2]) };
}
