/**
 * A database as a running aggregator leaves it before its first event: migrated, with the events
 * partitions of a 7-day retention (6 h each) created by one maintenance tick.
 */
import { migrateDatabase } from '../../aggregator/src/db/migrate';
import { createLogger } from '../../aggregator/src/log';
import { RetentionMaintainer } from '../../aggregator/src/retention/maintenance';

const DAY = 86_400_000;

export async function migrateWithPartitions(url: string): Promise<void> {
  await migrateDatabase(url);
  const maintainer = new RetentionMaintainer(url, createLogger('silent'), {
    retentionMs: 7 * DAY,
    dedupWindowMs: 7 * DAY,
    storageIntervalMs: DAY / 4,
    maxStorageBytes: 0,
  });
  await maintainer.tick(true);
  await maintainer.stop();
}
