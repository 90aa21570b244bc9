/**
 * The one way into the inbox for every ingest route (/publish and each shipper protocol): check
 * the replica takes work, validate, apply backpressure, enqueue (with group commit, or from the
 * decode worker for a large body), wake the workers and count. A protocol route only decodes its
 * wire format into candidate events and encodes the answer; durability, backpressure and metrics
 * are the same as /publish by construction. Errors, database ones included, go up untranslated: app.ts's onError translates
 * them for /publish and Loki, and the OTLP and bulk routes answer them in their protocol's shape
 * (ingest/protocol-errors.ts).
 */
import { setImmediate } from 'node:timers/promises';
import type { BodyChunks } from '../api/decompress';
import { type Detail, Draining } from '../errors';
import type { Backpressure } from './backpressure';
import type { EnqueueCoalescer } from './coalescer';
import type { DecodePool, Decoded } from './decode-pool';
import type { DecodeJob, Prepared } from './prepare';

/** A FIFO bound on units held at once (events/read-budget.ts ReadBudget is one). */
export interface ByteGate {
  run<T>(bytes: number, work: () => Promise<T>): Promise<T>;
}

/**
 * What decoding a body costs in memory, as a multiple of its decoded size: the parsed values,
 * the candidate events, their payload texts and the statement's parameters live together until
 * the commit. Measured at MAX_BODY_BYTES on every route (bench/hostile.ts): 5.6x for /publish,
 * up to 9x for OTLP protobuf.
 */
export const DECODE_EXPANSION = 10;

export interface IngestDeps {
  inbox: Pick<EnqueueCoalescer, 'enqueue'>;
  /** INGEST_BYTES_IN_FLIGHT: what the requests being decoded and enqueued may hold together. */
  decodeGate: ByteGate;
  backpressure: Pick<Backpressure, 'check'>;
  isDraining: () => boolean;
  /** Observes each acknowledged batch by its events' topics (metrics: size and topics, counted in memory). */
  onAccepted?: (topics: readonly string[]) => void;
  /**
   * Decodes, maps and validates a body: in a worker thread when it is large (decode-pool.ts),
   * which also stores it when allowed (the backpressure check passes before the decode).
   */
  decoder: Pick<DecodePool, 'prepare'>;
}

export interface Accepted {
  accepted: number;
  /** Rejected candidates by index (always empty in atomic mode, which throws instead). */
  rejected: Map<number, Detail[]>;
}

export interface Acceptor {
  /** Throws StorageUnavailable (503) while draining; call before reading the body. */
  admit(): void;
  /**
   * Decodes `body` as `job` says (ingest/prepare.ts), validates and durably enqueues its events;
   * resolves after the commit. Runs once `gateBytes` (what the body decodes to; its length by
   * default) x DECODE_EXPANSION fit in INGEST_BYTES_IN_FLIGHT: requests beyond it wait their
   * turn holding only their body, so the memory of a replica does not grow with the number of
   * large requests arriving at once.
   */
  ingest(body: BodyChunks, job: DecodeJob, gateBytes?: number): Promise<Ingested>;
}

/** What ingest() did with a body: what it held, and what was stored or rejected. */
export type Ingested = Omit<Prepared, 'rows' | 'bytes'> & Accepted;

/**
 * The workers are woken by whatever commits (the group commit's and the decode pool's
 * onCommitted), once per statement and as many as it wrote partitions for; the acceptor knows
 * nothing of workers.
 */
export function createAcceptor({ inbox, backpressure, isDraining, onAccepted, decodeGate, decoder }: IngestDeps): Acceptor {
  async function store(decoded: Decoded): Promise<Accepted> {
    const { rows, rejected } = decoded;
    if (rows.count === 0) return { accepted: 0, rejected };
    if (!decoded.stored) {
      backpressure.check();
      await inbox.enqueue(decoded.rows, decoded.bytes);
    }
    onAccepted?.(rows.topics);
    return { accepted: rows.count, rejected };
  }
  /** Whether a body may be stored as soon as it is decoded (a large one is, by the decode worker). */
  function storeAllowed(): boolean {
    try {
      backpressure.check();
      return true;
    } catch {
      return false; // store() refuses it with the same check once decoded
    }
  }
  return {
    admit() {
      if (isDraining()) throw new Draining();
    },
    ingest(body, job, gateBytes = body.length) {
      // One turn of the event loop before each decode: a queue of waiting requests would
      // otherwise run back to back in one chain of promise jobs and starve /health.
      return decodeGate.run(gateBytes * DECODE_EXPANSION, async () => {
        await setImmediate();
        const decoded = await decoder.prepare(job, body, gateBytes, { store: storeAllowed() });
        return { ...decoded, ...(await store(decoded)) };
      });
    },
  };
}
