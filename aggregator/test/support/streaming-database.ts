/**
 * The database of a failover or standby test on a streaming pair (local/streaming-pair.ts): made
 * on the primary, so it reaches the standby by replication as everything after it does.
 */
import postgres from 'postgres';
import { withDatabase } from '../../local/postgres';
import { type StreamingPair, startStreamingPair } from '../../local/streaming-pair';

export interface StreamingDatabase {
  pair: StreamingPair;
  /** The database `name` on the primary and on the standby. */
  primaryUrl: string;
  standbyUrl: string;
}

/** Starts a primary and its synchronous hot standby with the database `name` on both; the caller destroys the pair. */
export async function startStreamingDatabase(name: string): Promise<StreamingDatabase> {
  const pair = await startStreamingPair();
  try {
    const admin = postgres(pair.primaryUrl, { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await pair.destroy();
    throw error;
  }
  return { pair, primaryUrl: withDatabase(pair.primaryUrl, name), standbyUrl: withDatabase(pair.standbyUrl, name) };
}
