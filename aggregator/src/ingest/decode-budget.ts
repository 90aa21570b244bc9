/**
 * The decode budget of one ingest request: what a body may make us hold, counted while it is
 * decoded and before any event is built, so a small body that would expand into gigabytes
 * (millions of empty records, one large resource attribute copied into every record) is
 * refused in milliseconds with a 413 naming the limit, never after the whole was allocated.
 *
 * - records: log records, entries, documents, events (MAX_BATCH);
 * - items: records plus every container (resource, scope, stream, object, array: empty ones
 *   too), attribute, label and JSON member (INGEST_MAX_ITEMS);
 * - payload bytes: the size of the payloads mapping will produce, computed from the sizes on
 *   the wire; what mapping copies into every record (resource attributes, stream labels) is
 *   counted once per record (INGEST_MAX_PAYLOAD_BYTES).
 */
import type { Config } from '../config';
import { PayloadTooLarge } from '../errors';
import type { BodyLimits } from '../api/decompress';

export type DecodeLimits = Pick<Config, 'maxBatch' | 'ingestMaxItems' | 'ingestMaxPayloadBytes' | 'maxJsonDepth'>;

/** Everything that bounds one ingest request: reading its body, then decoding it. */
export type IngestLimits = BodyLimits & DecodeLimits;

export class DecodeBudget {
  private records = 0;
  private items = 0;
  private payloadBytes = 0;

  constructor(readonly limits: DecodeLimits) {}

  /** `n` records read (each is an item too). */
  record(n = 1): void {
    this.records += n;
    if (this.records > this.limits.maxBatch) {
      throw new PayloadTooLarge(`request holds more than MAX_BATCH (${this.limits.maxBatch}) records`);
    }
    this.item(n);
  }

  /** `n` containers, attributes, labels or members read. */
  item(n = 1): void {
    this.items += n;
    if (this.items > this.limits.ingestMaxItems) {
      throw new PayloadTooLarge(
        `request holds more than INGEST_MAX_ITEMS (${this.limits.ingestMaxItems}) records, containers, attributes and labels`,
      );
    }
  }

  /** `bytes` of payload that mapping will produce (fan-out included). */
  payload(bytes: number): void {
    this.payloadBytes += bytes;
    if (this.payloadBytes > this.limits.ingestMaxPayloadBytes) {
      throw new PayloadTooLarge(
        `request would expand to more than INGEST_MAX_PAYLOAD_BYTES (${this.limits.ingestMaxPayloadBytes}) bytes of payload ` +
          '(shared resource attributes and stream labels count once per record)',
      );
    }
  }
}
