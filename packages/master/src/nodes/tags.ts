import { tagsSchema } from '@edgestelle/protocol';

export type Tags = Record<string, string>;

/** The agent's own tags are merged over those from enrollment or an admin. */
export function mergeTags(base: Tags, reported: Tags): Tags {
  return { ...base, ...reported };
}

export function parseTags(text: string): Tags {
  return tagsSchema.parse(JSON.parse(text));
}

/** All-of: every wanted key present with the same value. */
export function tagsMatch(tags: Tags, wanted: Tags): boolean {
  return Object.entries(wanted).every(([key, value]) => tags[key] === value);
}
