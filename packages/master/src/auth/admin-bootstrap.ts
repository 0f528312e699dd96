import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { INITIAL_ADMIN_PASSWORD_FILE, writePrivateFile } from '../data-dir.ts';
import type { Database } from '../db/schema.ts';
import type { Users } from './users.ts';

export const ADMIN_USERNAME = 'admin';

export interface AdminBootstrap {
  username: string;
  /** Set only on the first start, when the password was generated. */
  generatedPassword: string | undefined;
  /** Where a generated password is kept (0600) so the quick start can show it again. */
  passwordFile: string | undefined;
  created: boolean;
}

/** Creates the first admin unless a user exists. */
export async function bootstrapAdmin(
  db: Kysely<Database>,
  users: Pick<Users, 'create'>,
  dataDir: string,
  configuredPassword: string | undefined,
): Promise<AdminBootstrap> {
  const existing = await db.selectFrom('users').select('user_id').limit(1).executeTakeFirst();
  if (existing !== undefined) {
    // The quick start can show where the generated password is until the operator deletes it.
    const file = join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
    const kept = existsSync(file) ? file : undefined;
    return { username: ADMIN_USERNAME, generatedPassword: undefined, passwordFile: kept, created: false };
  }
  const generated = configuredPassword === undefined ? randomBytes(18).toString('base64url') : undefined;
  const password = configuredPassword ?? generated ?? '';
  const passwordFile = generated === undefined ? undefined : join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  if (passwordFile !== undefined && generated !== undefined) await writePrivateFile(passwordFile, `${generated}\n`);
  await users.create(ADMIN_USERNAME, password, 'admin');
  return { username: ADMIN_USERNAME, generatedPassword: generated, passwordFile, created: true };
}
