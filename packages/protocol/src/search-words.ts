/**
 * How `q` of `GET /api/v1/search` becomes search words, in one place for the master, the CLI
 * and the console, so all three refuse the same text with the same words.
 */

/** Fewer characters than a trigram cannot be looked up in either index (FTS5 trigram, pg_trgm). */
export const SEARCH_WORD_MIN_CHARS = 3;
const SEARCH_WORDS_MAX = 16;

// Spaces and control characters (C0, DEL, C1): nothing a search word can be found by.
const UNSEARCHABLE = /[\s\p{Cc}]/gu;

export type SearchWords = { ok: true; words: string[] } | { ok: false; problem: string };

/**
 * Words split on spaces, `"quoted phrases"` kept whole. Each needs 3 searchable characters,
 * and none may hold NUL: output lines are stored without it (PostgreSQL text cannot hold it,
 * and SQLite's FTS5 reads a pattern only up to it, so it would match lines it is not in).
 */
export function parseSearchWords(q: string): SearchWords {
  const words = [...q.matchAll(/"([^"]*)"|(\S+)/g)]
    .map((match) => (match[1] ?? match[2] ?? '').trim())
    .filter((word) => word !== '');
  if (words.length === 0) return { ok: false, problem: 'there is no word to search for' };
  for (const word of words) {
    const searchable = [...word.replace(UNSEARCHABLE, '')].length;
    if (searchable < SEARCH_WORD_MIN_CHARS) {
      const count = searchable === 0 ? 'no searchable character' : `only ${searchable} searchable characters`;
      return {
        ok: false,
        problem: `${JSON.stringify(word)} has ${count}; each word needs ${SEARCH_WORD_MIN_CHARS} or more characters that are not spaces or control characters`,
      };
    }
    if (word.includes('\0')) {
      return {
        ok: false,
        problem: `${JSON.stringify(word)} holds a NUL character (U+0000), which no output line holds`,
      };
    }
  }
  return { ok: true, words: words.slice(0, SEARCH_WORDS_MAX) };
}
