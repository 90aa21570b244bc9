/**
 * Keeps a large body off the event loop, from its chunks to its commit. Decoding, mapping and
 * validating a body at MAX_BODY_BYTES is one synchronous step of 100-600 ms (measured per route
 * on a 2-core machine at load ~12: OTLP protobuf decode 162 ms then mapping 92 ms, Loki snappy +
 * decode 179 ms; a protobufjs decode or a JSON.parse cannot yield midway), and every request on
 * the replica, /health included, waited behind it. So was sending it: postgres.js encodes a
 * statement's parameters into one buffer and copies it twice on the way to the socket, 60-95 ms
 * of main-thread CPU for the 10 MB of a body at the limits (a CPU profile of 16 such bodies at
 * once: every stretch over 45 ms was that).
 *
 * A body from WORKER_MIN_BYTES up is moved (transferred, not copied, and still in the chunks it
 * arrived in) to a worker thread, which joins it and runs ingest/prepare.ts; then, when the
 * caller allows (`store`: not under backpressure), the worker writes it to the inbox itself, on a
 * connection of its own, with the same statement as the group commit (enqueue.ts enqueueRows),
 * and replies after the commit with its counts only. The 2xx still follows the commit; only the
 * thread that waits for it changed. Without a database (`storage` unset), or when not allowed to
 * store, the reply carries the statement's parameters ready-made for the group commit.
 * Smaller bodies are prepared inline and group-committed, where a thread hop would cost more than
 * it saves.
 *
 * One worker with one connection: with the default INGEST_BYTES_IN_FLIGHT only one body at the
 * limit is decoded at a time anyway, and a pod has two cores. The connection is the replica's
 * DB_POOL_SIZE + 3rd (docs/SIZING.md), opened at the first large body and closed after a minute idle.
 */
import { setTimeout as nextTurn } from 'node:timers/promises';
import { type BodyChunks, joinChunks } from '../api/decompress';
import { AppError, type Detail, PayloadTooLarge, UnsupportedMediaType, ValidationError } from '../errors';
import { noteBytesMoved } from '../ops/gc-pacer';
import type { IngestLimits } from './decode-budget';
import { BulkParseError } from './elastic/bulk';
import type { InboxRows } from './enqueue';
import { type DecodeJob, type Prepared, prepareBody } from './prepare';

/** Below this a body is prepared inline: at most ~15 ms of work at the slowest route (~60 us/KiB measured at load ~12). */
export const WORKER_MIN_BYTES = 256 * 1024;

/** Where the worker stores what it prepared. */
export interface WorkerStorage {
  databaseUrl: string;
  applicationName: string;
}

export type WorkerRequest =
  | {
      id: number;
      job: DecodeJob;
      /** The body's chunks as read (the worker joins them: 15-25 ms of CPU at MAX_BODY_BYTES). */
      body: BodyChunks;
      limits: IngestLimits;
      /** Write the events to the inbox once prepared (WorkerStorage), and reply after the commit. */
      store: boolean;
    }
  | { id: number; storage: WorkerStorage }
  | { id: number; close: true };

/** A chunk the worker can own: its memory is transferred when the view covers it all, else copied. */
const ownable = (chunk: Uint8Array) => (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : chunk.slice());

/** An error as it crosses threads: AppErrors keep their class, status and details, database errors their code. */
interface DescribedError {
  name: string;
  message: string;
  details?: Detail[];
  type?: string;
  /** A SQLSTATE or postgres.js's connection code (errors.ts isUnavailable reads it). */
  code?: string;
}

/** A body the worker stored: what the caller needs of it, without the statement's parameters. */
export type StoredPrepared = Omit<Prepared, 'rows'> & { rows: Pick<InboxRows, 'count' | 'topics'> };

/** What prepare() resolves with: the body stored already, or its rows for the group commit. */
export type Decoded = (Prepared & { stored: false }) | (StoredPrepared & { stored: true });

export type WorkerReply =
  | { id: number; prepared: Prepared }
  | { id: number; stored: StoredPrepared; partitions: number }
  | { id: number; closed: true }
  | { id: number; error: DescribedError };

export function describeError(error: unknown): DescribedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const described: DescribedError = { name: error.constructor.name, message: error.message };
  if (error instanceof AppError && error.details) described.details = error.details;
  if (error instanceof BulkParseError) described.type = error.type;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') described.code = code;
  return described;
}

/** A database error from the worker, as the main thread's error handling expects one (a `code`). */
class StorageError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

function rebuildError({ name, message, details = [], type, code }: DescribedError): Error {
  if (name === 'BulkParseError') return new BulkParseError(type ?? 'x_content_parse_exception', message);
  if (name === 'ValidationError') return new ValidationError(message, details);
  if (name === 'PayloadTooLarge') return new PayloadTooLarge(message);
  if (name === 'UnsupportedMediaType') return new UnsupportedMediaType(message);
  if (code !== undefined) return new StorageError(`${name}: ${message}`, code);
  return new Error(`decode worker: ${name}: ${message}`);
}

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (error: unknown) => void;
}

export interface DecodePoolOptions {
  /** WORKER_MIN_BYTES by default. */
  minBytes?: number;
  /** Lets the worker store what it prepared; without it every body goes through the group commit. */
  storage?: WorkerStorage;
  /** After each commit the worker made, with the inbox partitions it wrote (wakes that many workers). */
  onCommitted?: (partitions: number) => void;
}

export class DecodePool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly limits: IngestLimits;
  private readonly minBytes: number;

  constructor(
    limits: IngestLimits,
    private readonly options: DecodePoolOptions = {},
  ) {
    const { maxBodyBytes, bodyReadTimeoutMs, maxBatch, ingestMaxItems, ingestMaxPayloadBytes, maxJsonDepth } = limits;
    this.limits = { maxBodyBytes, bodyReadTimeoutMs, maxBatch, ingestMaxItems, ingestMaxPayloadBytes, maxJsonDepth };
    this.minBytes = options.minBytes ?? WORKER_MIN_BYTES;
  }

  /**
   * prepareBody(job, body), in the worker when the body is large: `decodedBytes` is what it
   * decodes to (a snappy Loki push is a fraction of it). With `store`, a body prepared in the
   * worker is also committed there (`stored: true`). `body` is not usable afterwards.
   */
  async prepare(job: DecodeJob, body: BodyChunks, decodedBytes = body.length, { store = false } = {}): Promise<Decoded> {
    if (decodedBytes < this.minBytes) {
      // The body's garbage is this thread's; a large body's is the worker's, which paces its own.
      noteBytesMoved(body.length);
      return { ...prepareBody(job, joinChunks(body), this.limits), stored: false };
    }
    const chunks = body.chunks.map(ownable);
    const reply = await this.call(
      { id: this.nextId++, job, body: { chunks, length: body.length }, limits: this.limits, store: store && this.options.storage !== undefined },
      chunks.map((chunk) => chunk.buffer as ArrayBuffer),
    );
    // Receiving the reply took a turn of its own (~35 ms of CPU for 10 MB of text when it
    // carries the parameters); what follows takes a later one, so requests waiting meanwhile are
    // answered in between. A timer, not setImmediate: an immediate queued here runs before the
    // loop polls for I/O again.
    await nextTurn(0);
    if ('stored' in reply) {
      this.options.onCommitted?.(reply.partitions);
      return { ...reply.stored, stored: true };
    }
    if ('prepared' in reply) return { ...reply.prepared, stored: false };
    throw new Error('decode worker: unexpected reply');
  }

  /** Ends the worker's database connection (after the drain) and the thread. */
  async close(): Promise<void> {
    if (!this.worker) return;
    await Promise.race([this.call({ id: this.nextId++, close: true }).catch(() => {}), Bun.sleep(3_000)]);
    this.fail(new Error('decode worker closed'));
  }

  private call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.thread().postMessage(request, transfer);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./decode-worker.ts', import.meta.url).href);
    // Bun's Worker has unref() (the DOM type does not): an idle decode thread never keeps the process up.
    (worker as unknown as { unref(): void }).unref();
    worker.onmessage = ({ data }: MessageEvent<WorkerReply>) => {
      const pending = this.pending.get(data.id);
      this.pending.delete(data.id);
      if ('error' in data) pending?.reject(rebuildError(data.error));
      else pending?.resolve(data);
    };
    // A thread that died takes its jobs with it (500s); the next large body starts a new one.
    worker.onerror = (event) => this.fail(new Error(`decode worker failed: ${event.message}`));
    this.worker = worker;
    // Messages are handled in order: the storage is known before the first body.
    if (this.options.storage) worker.postMessage({ id: this.nextId++, storage: this.options.storage } satisfies WorkerRequest);
    return worker;
  }

  private fail(error: Error): void {
    this.worker?.terminate();
    this.worker = null;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}
