import {
  outputStreamSchema,
  parseSearchWords,
  type SearchHit,
  type SearchPage,
  type searchQuerySchema,
} from '@edgestelle/protocol';
import { sql, type Kysely } from 'kysely';
import type { z } from 'zod';
import type { Dialect } from '../db/store.ts';
import { cursorNumber, cursorString, decodeCursor, encodeCursor } from '../db/cursor.ts';
import type { Database } from '../db/schema.ts';
import { MasterError, MasterErrorCode } from '../errors.ts';
import { runState } from '../runs/dto.ts';

export type SearchQuery = z.output<typeof searchQuerySchema>;
type Range = { start: number; end: number };

/** `q` into search words, or 400 naming the query parameter. */
export function parseTerms(q: string): string[] {
  const parsed = parseSearchWords(q);
  if (!parsed.ok) {
    throw new MasterError(MasterErrorCode.invalidRequest, `query parameter q: ${parsed.problem}`, { field: 'q' });
  }
  return parsed.words;
}

/** Where the terms occur in a line: merged, ordered UTF-16 ranges. */
export function highlights(line: string, terms: readonly string[]): Range[] {
  const ranges: Range[] = [];
  for (const term of terms) {
    const pattern = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'giu');
    for (const m of line.matchAll(pattern)) ranges.push({ start: m.index, end: m.index + m[0].length });
  }
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** Longest `line` a hit carries; a stored line may be up to a chunk (64 KiB) long. */
export const HIT_MAX_CHARS = 2000;
/** How much of a cut line is shown before its first match. */
const HIT_LEAD_CHARS = 200;

/**
 * At most `HIT_MAX_CHARS` of `line`, from a little before its first highlight, with the
 * highlights moved onto it. A cut never splits a surrogate pair.
 */
export function hitExcerpt(
  line: string,
  marks: readonly Range[],
): { line: string; start: number; highlights: Range[] } {
  if (line.length <= HIT_MAX_CHARS) return { line, start: 0, highlights: [...marks] };
  let start = Math.max(0, Math.min((marks[0]?.start ?? 0) - HIT_LEAD_CHARS, line.length - HIT_MAX_CHARS));
  if (isLowSurrogate(line.charCodeAt(start))) start += 1;
  let end = Math.min(line.length, start + HIT_MAX_CHARS);
  if (end < line.length && isLowSurrogate(line.charCodeAt(end))) end -= 1;
  const highlights = marks
    .filter((m) => m.end > start && m.start < end)
    .map((m) => ({ start: Math.max(m.start, start) - start, end: Math.min(m.end, end) - start }));
  return { line: line.slice(start, end), start, highlights };
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * Full-text search over indexed output lines: every term as a case-insensitive substring.
 * SQLite answers from an FTS5 trigram index, PostgreSQL from a pg_trgm GIN index (ILIKE);
 * the same contract test runs on both. Hits come newest run first, then in line order.
 */
export class LogSearch {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async search(query: SearchQuery): Promise<SearchPage> {
    const terms = parseTerms(query.q);
    let q = this.db
      .selectFrom('output_lines as l')
      .innerJoin('runs as r', 'r.run_id', 'l.run_id')
      .innerJoin('jobs as j', 'j.job_id', 'r.job_id')
      .select([
        'l.run_id',
        'l.seq',
        'l.line_no',
        'l.stream',
        'l.line',
        'l.created_at',
        'r.job_id',
        'r.node_id',
        'r.state',
        'j.created_by',
        'j.script_name',
        'j.script_version',
      ])
      .orderBy('l.run_id', 'desc')
      .orderBy('l.line_no', 'asc')
      .limit(query.limit + 1);
    for (const term of terms) {
      const wildcards = /[\\%_]/.test(term);
      const pattern = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      if (this.dialect === 'sqlite') {
        // FTS5's trigram LIKE takes no ESCAPE: a term with % or _ matches a superset there, and
        // the exact check on the line narrows it again.
        q = q.where(sql<boolean>`l.line_id IN (SELECT rowid FROM output_lines_fts WHERE line LIKE ${`%${term}%`})`);
        if (wildcards) q = q.where(sql<boolean>`instr(lower(l.line), ${term.toLowerCase()}) > 0`);
      } else {
        q = q.where(sql<boolean>`l.line ILIKE ${pattern}`);
      }
    }
    if (query.nodeId !== undefined) q = q.where('r.node_id', '=', query.nodeId);
    if (query.jobId !== undefined) q = q.where('r.job_id', '=', query.jobId);
    if (query.scriptName !== undefined) q = q.where('j.script_name', '=', query.scriptName);
    if (query.user !== undefined) q = q.where('j.created_by', '=', query.user);
    if (query.state !== undefined) q = q.where('r.state', 'in', query.state);
    if (query.from !== undefined) q = q.where('l.created_at', '>=', query.from);
    if (query.to !== undefined) q = q.where('l.created_at', '<', query.to);
    if (query.cursor !== undefined) {
      const [runPart, linePart] = decodeCursor(query.cursor, 2);
      const runId = cursorString(runPart);
      const lineNo = cursorNumber(linePart);
      q = q.where((eb) =>
        eb.or([eb('l.run_id', '<', runId), eb.and([eb('l.run_id', '=', runId), eb('l.line_no', '>', lineNo)])]),
      );
    }
    const rows = await q.execute();
    const page = rows.slice(0, query.limit);
    const items: SearchHit[] = page.map((row) => {
      const excerpt = hitExcerpt(row.line, highlights(row.line, terms));
      return {
        runId: row.run_id,
        jobId: row.job_id,
        nodeId: row.node_id,
        seq: row.seq,
        stream: outputStreamSchema.parse(row.stream),
        lineNo: row.line_no,
        line: excerpt.line,
        lineStart: excerpt.start,
        lineLength: row.line.length,
        highlights: excerpt.highlights,
        at: row.created_at,
        runState: runState(row.state),
        createdBy: row.created_by,
        script:
          row.script_name === null || row.script_version === null
            ? null
            : { name: row.script_name, version: row.script_version },
      };
    });
    const last = page.at(-1);
    return {
      items,
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor([last.run_id, last.line_no]) : null,
    };
  }
}
