/**
 * The one way into the inbox for every ingest route (/publish and each shipper protocol): check
 * the replica takes work, validate, apply backpressure, enqueue with group commit, wake the
 * workers and count. A protocol route only decodes its wire format into candidate events and
 * encodes the answer; durability, backpressure and metrics are the same as /publish by
 * construction.
 */
import type { Config } from '../config';
import type { Event } from '../api/contract';
import { type Detail, PayloadTooLarge, Draining, ValidationError, fromDatabaseError } from '../errors';
import type { Backpressure } from './backpressure';
import type { EnqueueCoalescer } from './coalescer';
import { sortEvents, validateEvents } from './validate';

export interface IngestDeps {
  inbox: Pick<EnqueueCoalescer, 'enqueue'>;
  config: Pick<Config, 'maxBodyBytes' | 'maxBatch'>;
  /** Tells workers that the inbox has new rows (a capability: ingest knows nothing of workers). */
  announceWork: () => void;
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
   * Validates and durably enqueues `candidates`; resolves after the commit.
   * `atomic`: one invalid candidate rejects the request (400, nothing stored), as /publish promises.
   * Otherwise the valid ones are stored and the rest returned, for protocols with per-record answers.
   * `sourceText` (the JSON every string of the candidates came from, if any) lets validation skip
   * the U+0000 / surrogate walk when the text holds no escape that could produce one.
   */
  accept(candidates: unknown[], options: { atomic: boolean; sourceText?: string }): Promise<Accepted>;
}

export function createAcceptor({ inbox, config, announceWork, backpressure, isDraining, onAccepted }: IngestDeps): Acceptor {
  return {
    admit() {
      if (isDraining()) throw new Draining();
    },
    async accept(candidates, { atomic, sourceText }) {
      if (candidates.length > config.maxBatch) {
        throw new PayloadTooLarge(`batch of ${candidates.length} events exceeds MAX_BATCH (${config.maxBatch})`);
      }
      let events: Event[];
      let rejected = new Map<number, Detail[]>();
      if (atomic) {
        if (candidates.length === 0) throw new ValidationError('empty batch: send at least one event');
        events = validateEvents(candidates, sourceText);
      } else {
        ({ valid: events, rejected } = sortEvents(candidates, sourceText));
      }
      if (events.length === 0) return { accepted: 0, rejected };
      backpressure.check();
      try {
        await inbox.enqueue(events);
      } catch (error) {
        // Translated here, not only in app.ts: the shipper routes answer errors in their own protocol's shape.
        throw fromDatabaseError(error);
      }
      announceWork();
      onAccepted?.(events);
      return { accepted: events.length, rejected };
    },
  };
}
