import pg from 'pg';

/** The machine's PostgreSQL (trust auth); override for another server. */
export const POSTGRES_ADMIN_URL =
  process.env.EDGESTELLE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface FreshDatabase extends AsyncDisposable {
  readonly url: string;
  readonly name: string;
}

/** A new, empty database on the machine's PostgreSQL, dropped (connections and all) on dispose. */
export async function freshPostgresDatabase(): Promise<FreshDatabase> {
  const name = `edgestelle_test_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async [Symbol.asyncDispose]() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
