/**
 * Keeps a large body's decoding off the event loop. Decoding, mapping and validating a body at
 * MAX_BODY_BYTES is one synchronous step of 100-600 ms (measured per route on a 2-core machine
 * at load ~12: OTLP protobuf decode 162 ms then mapping 92 ms, Loki snappy + decode 179 ms; a
 * protobufjs decode or a JSON.parse cannot yield midway), and every request on the replica,
 * /health included, waited behind it. A body from WORKER_MIN_BYTES up is moved (transferred, not
 * copied, and still in the chunks it arrived in) to a worker thread, which joins it, runs ingest/prepare.ts and sends back the inbox statement's
 * parameters ready-made (enqueue.ts inboxRows): a few strings and integer arrays, which cross
 * threads in a millisecond where 5000 event objects took 250 ms, and leave the main thread no
 * per-event work.
 * Smaller bodies are prepared inline, where a thread hop would cost more than it saves.
 *
 * One worker: with the default INGEST_BYTES_IN_FLIGHT only one body at the limit is decoded
 * at a time anyway, and a pod has two cores.
 */
import { setTimeout as nextTurn } from 'node:timers/promises';
import { type BodyChunks, joinChunks } from '../api/decompress';
import { AppError, type Detail, PayloadTooLarge, UnsupportedMediaType, ValidationError } from '../errors';
import type { IngestLimits } from './decode-budget';
import { BulkParseError } from './elastic/bulk';
import { type DecodeJob, type Prepared, prepareBody } from './prepare';

/** Below this a body is prepared inline: at most ~15 ms of work at the slowest route (~60 us/KiB measured at load ~12). */
export const WORKER_MIN_BYTES = 256 * 1024;

export interface WorkerRequest {
  id: number;
  job: DecodeJob;
  /** The body's chunks as read (the worker joins them: 15-25 ms of CPU at MAX_BODY_BYTES). */
  body: BodyChunks;
  limits: IngestLimits;
}

/** A chunk the worker can own: its memory is transferred when the view covers it all, else copied. */
const ownable = (chunk: Uint8Array) => (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : chunk.slice());

/** An error as it crosses threads: AppErrors keep their class, status and details. */
interface DescribedError {
  name: string;
  message: string;
  details?: Detail[];
  type?: string;
}

export type WorkerReply = { id: number; prepared: Prepared } | { id: number; error: DescribedError };

export function describeError(error: unknown): DescribedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const described: DescribedError = { name: error.constructor.name, message: error.message };
  if (error instanceof AppError && error.details) described.details = error.details;
  if (error instanceof BulkParseError) described.type = error.type;
  return described;
}

function rebuildError({ name, message, details = [], type }: DescribedError): Error {
  if (name === 'BulkParseError') return new BulkParseError(type ?? 'x_content_parse_exception', message);
  if (name === 'ValidationError') return new ValidationError(message, details);
  if (name === 'PayloadTooLarge') return new PayloadTooLarge(message);
  if (name === 'UnsupportedMediaType') return new UnsupportedMediaType(message);
  return new Error(`decode worker: ${name}: ${message}`);
}

interface Pending {
  resolve: (prepared: Prepared) => void;
  reject: (error: unknown) => void;
}

export class DecodePool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly limits: IngestLimits;

  constructor(
    limits: IngestLimits,
    private readonly minBytes = WORKER_MIN_BYTES,
  ) {
    const { maxBodyBytes, bodyReadTimeoutMs, maxBatch, ingestMaxItems, ingestMaxPayloadBytes, maxJsonDepth } = limits;
    this.limits = { maxBodyBytes, bodyReadTimeoutMs, maxBatch, ingestMaxItems, ingestMaxPayloadBytes, maxJsonDepth };
  }

  /**
   * prepareBody(job, body), in the worker when the body is large: `decodedBytes` is what it
   * decodes to (a snappy Loki push is a fraction of it). `body` is not usable afterwards.
   */
  async prepare(job: DecodeJob, body: BodyChunks, decodedBytes = body.length): Promise<Prepared> {
    if (decodedBytes < this.minBytes) return prepareBody(job, joinChunks(body), this.limits);
    const chunks = body.chunks.map(ownable);
    const id = this.nextId++;
    const request: WorkerRequest = { id, job, body: { chunks, length: body.length }, limits: this.limits };
    const prepared = await new Promise<Prepared>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread().postMessage(
        request,
        chunks.map((chunk) => chunk.buffer as ArrayBuffer),
      );
    });
    // Receiving the reply took a turn of its own (~35 ms of CPU for 10 MB of text); the enqueue
    // takes a later one, so requests waiting meanwhile are answered in between. A timer, not
    // setImmediate: an immediate queued here runs before the loop polls for I/O again.
    await nextTurn(0);
    return prepared;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./decode-worker.ts', import.meta.url).href);
    // Bun's Worker has unref() (the DOM type does not): an idle decode thread never keeps the process up.
    (worker as unknown as { unref(): void }).unref();
    worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      const pending = this.pending.get(data.id);
      this.pending.delete(data.id);
      if ('prepared' in data) pending?.resolve(data.prepared);
      else pending?.reject(rebuildError(data.error));
    };
    // A thread that died takes its jobs with it (500s); the next large body starts a new one.
    worker.onerror = (event) => this.fail(new Error(`decode worker failed: ${event.message}`));
    this.worker = worker;
    return worker;
  }

  private fail(error: Error): void {
    this.worker?.terminate();
    this.worker = null;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
