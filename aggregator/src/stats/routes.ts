/** GET /stats */
import { Type as t } from '@sinclair/typebox';
import { Elysia } from 'elysia';
import type { Sql } from '../db/client';
import { jsonContent } from '../openapi';
import { readTotals } from './query';

export const Stats = t.Object({
  received: t.Integer({ description: 'Events acknowledged with 202, duplicates included.' }),
  unique_processed: t.Integer(),
  duplicate_dropped: t.Integer(),
  pending: t.Integer({ description: 'Acknowledged events not yet applied.' }),
  parked: t.Integer({ description: 'Of pending: events that failed to apply even alone, kept aside so their partition flows on.' }),
  topics: t.Array(t.String(), { description: 'Topics with processed events, sorted.' }),
  uptime: t.Number({ description: 'Seconds since this replica started.' }),
});

export function statsRoutes(sql: Sql) {
  return new Elysia({ name: 'stats' }).get(
    '/stats',
    async () => ({ ...(await readTotals(sql)), uptime: process.uptime() }),
    { detail: { summary: 'Totals across all replicas', responses: { 200: { description: 'Totals', content: jsonContent(Stats) } } } },
  );
}
