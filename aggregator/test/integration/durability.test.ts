/**
 * A 202 means committed on disk: the aggregator's sessions run with synchronous_commit = on even
 * when the database (or a role) defaults to off.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import postgres from 'postgres';
import { type TestAggregator, makeEvents, startTestAggregator } from '../support/harness';
import { type TestDatabase, createTestDatabase } from '../../local/postgres';

let db: TestDatabase;
let agg: TestAggregator;

beforeAll(async () => {
  db = await createTestDatabase('durability');
  const admin = postgres(db.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
  await admin.end();
  agg = await startTestAggregator({}, db);
}, 60_000);

afterAll(async () => {
  await agg.close();
  await db.drop();
}, 30_000);

test('a database default of synchronous_commit = off does not apply to the aggregator', async () => {
  // The default really is off for a plain session: otherwise this test would prove nothing.
  const plain = postgres(db.url, { max: 1, onnotice: () => {} });
  const [plainSetting] = await plain`SHOW synchronous_commit`;
  await plain.end();
  expect(plainSetting!.synchronous_commit).toBe('off');

  // Every pooled session of the aggregator (publish, workers) reports on.
  const settings = await Promise.all(
    Array.from({ length: 6 }, () => agg.aggregator.sql.begin(async (tx) => (await tx`SHOW synchronous_commit`)[0]!.synchronous_commit)),
  );
  expect(new Set(settings)).toEqual(new Set(['on']));

  // And the publishing sessions themselves, observed from the server side while they commit.
  expect((await agg.publish(makeEvents(20))).status).toBe(202);
  const [row] = await agg.aggregator.sql`SELECT current_setting('synchronous_commit') AS value`;
  expect(row!.value).toBe('on');
});
