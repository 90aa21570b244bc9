/**
 * The decode worker's thread (see decode-pool.ts): prepares one body at a time (ingest/prepare.ts)
 * and, when asked to, stores it on a connection of its own with the group commit's statement
 * (enqueue.ts), replying after the commit; else posts back only what the enqueue needs.
 */
import { joinChunks } from '../api/decompress';
import { type Sql, createPool } from '../db/client';
import { noteBytesMoved } from '../ops/gc-pacer';
import { DECODE_EXPANSION } from './accept';
import { type StoredPrepared, type WorkerReply, type WorkerRequest, type WorkerStorage, describeError } from './decode-pool';
import { enqueueRows } from './enqueue';
import { prepareBody } from './prepare';

declare const self: Worker;

let storage: WorkerStorage | null = null;
let sql: Sql | null = null;

async function handle(request: WorkerRequest): Promise<WorkerReply | null> {
  if ('storage' in request) {
    storage = request.storage;
    return null;
  }
  if ('close' in request) {
    await sql?.end({ timeout: 2 });
    sql = null;
    return { id: request.id, closed: true };
  }
  const prepared = prepareBody(request.job, joinChunks(request.body), request.limits);
  if (!request.store || storage === null || prepared.rows.count === 0) return { id: request.id, prepared };
  // One connection: statements queue on it. It closes after a minute idle like the pool's.
  sql ??= createPool(storage.databaseUrl, { max: 1, applicationName: storage.applicationName });
  const partitions = await enqueueRows(sql, [prepared.rows]);
  const { rows, ...rest } = prepared;
  const stored: StoredPrepared = { ...rest, rows: { count: rows.count, topics: rows.topics } };
  return { id: request.id, stored, partitions };
}

self.onmessage = ({ data }: MessageEvent<WorkerRequest>) => {
  handle(data)
    .then(
      (reply) => reply && self.postMessage(reply),
      (error) => self.postMessage({ id: data.id, error: describeError(error) } satisfies WorkerReply),
    )
    // The body, its decoded values and the statement are this thread's garbage (about
    // DECODE_EXPANSION times the body): collected here, after the reply, so a full collection
    // never stops the event loop for a large body.
    .finally(() => 'body' in data && noteBytesMoved(data.body.length * DECODE_EXPANSION));
};
