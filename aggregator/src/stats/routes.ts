/** GET /stats */
import { Elysia } from 'elysia';
import { Stats } from '../api/contract';
import type { Sql } from '../db/client';
import { jsonContent } from '../api/openapi';
import { readTotals } from './query';

export function statsRoutes(sql: Sql) {
  return new Elysia({ name: 'stats' }).get(
    '/stats',
    async () => ({ ...(await readTotals(sql)), uptime: Math.round(process.uptime() * 1000) / 1000 }),
    {
      detail: { summary: 'Totals across all replicas', responses: { 200: { description: 'Totals', content: jsonContent(Stats) } } },
    },
  );
}
