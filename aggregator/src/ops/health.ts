/**
 * GET /health: the process is alive (no database call, so a database outage never gets pods
 * killed). GET /ready: the database answers, the schema is migrated, and we are not draining.
 */
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';

export interface Lifecycle {
  migrated: boolean;
  draining: boolean;
}

const PING_TIMEOUT_MS = 2_000;

async function databaseAnswers(sql: Sql): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(resolve, PING_TIMEOUT_MS, false));
  const ping = sql`SELECT 1`.then(
    () => true,
    () => false,
  );
  return Promise.race([ping, timeout]);
}

export function healthRoutes(sql: Sql, lifecycle: Lifecycle) {
  return new Elysia({ name: 'health' })
    .get('/health', () => ({ status: 'ok' }), { detail: { summary: 'Liveness' } })
    .get(
      '/ready',
      async ({ set }) => {
        const database = !lifecycle.draining && (await databaseAnswers(sql));
        // Read the drain flag after the ping: under load the ping takes a while, and a drain
        // that began meanwhile must not be answered with 200 (seen in faults-drain.test.ts).
        const checks = { migrated: lifecycle.migrated, draining: lifecycle.draining, database };
        const ready = checks.migrated && !checks.draining && checks.database;
        set.status = ready ? 200 : 503;
        if (!ready) set.headers['retry-after'] = '1';
        return { status: ready ? 'ready' : 'unavailable', ...checks };
      },
      { detail: { summary: 'Readiness: database reachable, migrated, not draining' } },
    );
}
