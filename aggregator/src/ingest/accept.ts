/**
 * The one way into the inbox for every ingest route (/publish and each shipper protocol): check
 * the replica takes work, validate, apply backpressure, enqueue with group commit, wake the
 * workers and count. A protocol route only decodes its wire format into candidate events and
 * encodes the answer; durability, backpressure and metrics are the same as /publish by
 * construction. Errors, database ones included, go up untranslated: app.ts's onError translates
 * them for /publish and Loki, and the OTLP and bulk routes answer them in their protocol's shape
 * (ingest/protocol-errors.ts).
 */
import { setImmediate } from 'node:timers/promises';
import type { Event } from '../api/contract';
import type { Config } from '../config';
import { type Detail, PayloadTooLarge, Draining, ValidationError } from '../errors';
import type { Backpressure } from './backpressure';
import type { EnqueueCoalescer } from './coalescer';
import type { Candidate, InboxEvent } from './inbox-event';
import { sortEvents, validateEvents } from './validate';

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
  config: Pick<Config, 'maxBodyBytes' | 'maxBatch'>;
  /** INGEST_BYTES_IN_FLIGHT: what the requests being decoded and enqueued may hold together. */
  decodeGate: ByteGate;
  backpressure: Pick<Backpressure, 'check'>;
  isDraining: () => boolean;
  /** Observes each acknowledged batch (metrics: size and topics, counted in memory). */
  onAccepted?: (events: readonly Event[]) => void;
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
   * Runs `work` (decode, map, accept) once `bodyBytes` x DECODE_EXPANSION fit in
   * INGEST_BYTES_IN_FLIGHT: requests beyond it wait their turn holding only their body, so the
   * memory of a replica does not grow with the number of large requests arriving at once.
   */
  decoding<T>(bodyBytes: number, work: () => Promise<T>): Promise<T>;
  /**
   * Validates and durably enqueues `candidates`; resolves after the commit.
   * `atomic`: one invalid candidate rejects the request (400, nothing stored), as /publish promises.
   * Otherwise the valid ones are stored and the rest returned, for protocols with per-record answers.
   * `sourceText` (the JSON every string of the candidates came from, if any) lets validation skip
   * the U+0000 / surrogate walk when the text holds no escape that could produce one.
   * A candidate's `payloadText` is stored instead of a re-serialisation of its payload.
   * `bytes`: the request's size, for the group commit's byte bound.
   */
  accept(candidates: readonly Candidate[], options: AcceptOptions): Promise<Accepted>;
}

export interface AcceptOptions {
  atomic: boolean;
  sourceText?: string | undefined;
  bytes?: number;
}

/**
 * The workers are woken by the group commit itself (coalescer onCommitted), once per statement
 * and as many as it wrote partitions for; the acceptor knows nothing of workers.
 */
export function createAcceptor({ inbox, config, backpressure, isDraining, onAccepted, decodeGate }: IngestDeps): Acceptor {
  return {
    admit() {
      if (isDraining()) throw new Draining();
    },
    decoding(bodyBytes, work) {
      // One turn of the event loop before each decode: a queue of waiting requests would
      // otherwise run back to back in one chain of promise jobs and starve /health.
      return decodeGate.run(bodyBytes * DECODE_EXPANSION, async () => {
        await setImmediate();
        return work();
      });
    },
    async accept(candidates, { atomic, sourceText, bytes }) {
      if (candidates.length > config.maxBatch) {
        throw new PayloadTooLarge(`batch of ${candidates.length} events exceeds MAX_BATCH (${config.maxBatch})`);
      }
      let events: InboxEvent[];
      let rejected = new Map<number, Detail[]>();
      if (atomic) {
        if (candidates.length === 0) throw new ValidationError('empty batch: send at least one event');
        events = validateEvents(candidates, sourceText);
      } else {
        ({ valid: events, rejected } = sortEvents(candidates, sourceText));
      }
      if (events.length === 0) return { accepted: 0, rejected };
      backpressure.check();
      await inbox.enqueue(events, bytes);
      onAccepted?.(events);
      return { accepted: events.length, rejected };
    },
  };
}
