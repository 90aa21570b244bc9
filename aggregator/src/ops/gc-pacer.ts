/**
 * Keeps large transient buffers from piling up. JavaScriptCore sizes its heap by the machine's
 * RAM, not the pod's memory limit, and the bytes of a large publish or read (the body, its
 * decoded text, driver buffers, the response) are garbage moments later. Left to its own pace,
 * the collector let a replica serving 4 MiB events reach 440-520 MiB of RSS against a 512 MiB
 * limit (test/integration/large-events.test.ts).
 *
 * Callers report the bytes they moved; after every CHECK_EVERY_BYTES the pacer looks at the
 * RSS and, above SOFT_LIMIT_BYTES, runs a full collection. Small events move few bytes, so the
 * check is rare and the collection rarer; it costs milliseconds on this process's small heap.
 *
 * Per thread: `Bun.gc` collects the calling thread's heap only, and this module's counter is per
 * thread too. The decode worker reports the large bodies it owns (ingest/decode-worker.ts), so
 * their collection stops the worker, never the event loop (a full collection during 16 bodies
 * of 5 MiB was 15-42 ms of it).
 */
const CHECK_EVERY_BYTES = 16 * 1024 * 1024;
const SOFT_LIMIT_BYTES = 192 * 1024 * 1024;

let sinceCheck = 0;

/** Notes `bytes` moved through this process (a publish body, a read). */
export function noteBytesMoved(bytes: number): void {
  sinceCheck += bytes;
  if (sinceCheck < CHECK_EVERY_BYTES) return;
  sinceCheck = 0;
  if (process.memoryUsage.rss() > SOFT_LIMIT_BYTES) Bun.gc(true);
}
