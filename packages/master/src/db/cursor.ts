import { z } from 'zod';
import { MasterError, MasterErrorCode } from '../errors.ts';

/**
 * Opaque page cursors: the sort key of the last item a page returned, as base64url JSON. Only
 * the master reads them; clients pass `nextCursor` back unchanged.
 */
export function encodeCursor(key: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

const keySchema = z.array(z.union([z.string().max(128), z.number()]));

export function decodeCursor(cursor: string, length: number): Array<string | number> {
  const invalid = new MasterError(
    MasterErrorCode.invalidRequest,
    'cursor is not one this master handed out: pass nextCursor back unchanged',
    { field: 'cursor' },
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new MasterError(invalid.code, invalid.message, { field: 'cursor', cause });
  }
  const key = keySchema.safeParse(parsed);
  if (!key.success || key.data.length !== length) throw invalid;
  return key.data;
}

/** A string part of a decoded cursor, or a clear 400. */
export function cursorString(value: string | number | undefined): string {
  if (typeof value !== 'string')
    throw new MasterError(MasterErrorCode.invalidRequest, 'cursor is malformed', { field: 'cursor' });
  return value;
}

export function cursorNumber(value: string | number | undefined): number {
  if (typeof value !== 'number')
    throw new MasterError(MasterErrorCode.invalidRequest, 'cursor is malformed', { field: 'cursor' });
  return value;
}
