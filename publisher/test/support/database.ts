/**
 * A throw-away database on the server the root test runner gives us (TEST_DATABASE_URL, a
 * superuser URL). The aggregator migrates it itself at start, as it does in production.
 */
import postgres from "npm:postgres@^3.4";

/** A created database and how to drop it. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** CREATE DATABASE with a unique name; `drop()` removes it even if connections linger. */
export async function createDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `logbus_publisher_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  await withAdmin(adminUrl, (sql) => sql.unsafe(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    name,
    // FORCE (PostgreSQL 13+) ends connections a killed aggregator may have left behind.
    drop: () => withAdmin(adminUrl, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

async function withAdmin(adminUrl: string, fn: (sql: postgres.Sql) => Promise<unknown>): Promise<void> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {}, idle_timeout: 1 });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
