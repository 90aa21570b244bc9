/**
 * Applies the committed migrations in aggregator/drizzle. drizzle's migrate() takes no lock, and
 * replicas start together, so it runs on a single connection that holds a session advisory lock.
 */
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

/** Arbitrary constant shared by every replica: "logbus migrations". */
const MIGRATION_LOCK_KEY = 7_351_001;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Applies every migration in `folder` not yet applied, under the migration lock. */
export async function migrateDatabase(url: string, folder: string = MIGRATIONS_FOLDER): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle(client), { migrationsFolder: folder });
    } finally {
      await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}
