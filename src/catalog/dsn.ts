import type pg from 'pg';

/** Connection settings for `database`, from a DSN whose own database part is replaced. */
export function connectionFor(dsn: string, database: string): pg.ClientConfig {
  const url = new URL(dsn);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { connectionString: url.toString(), connectionTimeoutMillis: 10_000 };
}

/** The database a DSN names (postgres when it names none). */
export function databaseOf(dsn: string): string {
  const path = new URL(dsn).pathname.replace(/^\//, '');
  return decodeURIComponent(path) || 'postgres';
}
