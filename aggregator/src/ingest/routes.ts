/** POST /publish */
import { Elysia } from 'elysia';
import type { Config } from '../config';
import { jsonContent } from '../openapi';
import { PayloadTooLarge, StorageUnavailable, ValidationError, fromDatabaseError } from '../errors';
import type { Wakeup } from '../workers/wakeup';
import type { Backpressure } from './backpressure';
import { noteBytesMoved } from '../ops/gc-pacer';
import { readBodyText } from './body';
import type { EnqueueCoalescer } from './coalescer';
import { ErrorBody, type Event, PublishAccepted, PublishBody } from './model';
import { withPayloadTexts } from './inbox-event';
import { bodyFormat, parsePublishBody } from './parse';
import { validateEvents } from './validate';

export interface IngestDeps {
  inbox: Pick<EnqueueCoalescer, 'enqueue'>;
  config: Pick<Config, 'maxBodyBytes' | 'maxBatch'>;
  /** Unused here: the coalescer wakes workers once per committed statement (aggregator.ts). */
  wakeup: Pick<Wakeup, 'announce'>;
  backpressure: Pick<Backpressure, 'check'>;
  isDraining: () => boolean;
  /** Observes each acknowledged batch (metrics: size and topics, counted in memory). */
  onAccepted?: (events: readonly Event[]) => void;
}


export function ingestRoutes({ inbox, config, backpressure, isDraining, onAccepted }: IngestDeps) {
  return new Elysia({ name: 'ingest' }).post(
    '/publish',
    async ({ request, set }) => {
      if (isDraining()) throw new StorageUnavailable('this replica is shutting down; retry', 1);
      const format = bodyFormat(request.headers.get('content-type'));
      const text = await readBodyText(request, config.maxBodyBytes);
      noteBytesMoved(text.length);
      const { candidates, payloadTexts } = parsePublishBody(text, format);
      if (candidates.length === 0) throw new ValidationError('empty batch: send at least one event');
      if (candidates.length > config.maxBatch) {
        throw new PayloadTooLarge(`batch of ${candidates.length} events exceeds MAX_BATCH (${config.maxBatch})`);
      }
      const events = withPayloadTexts(validateEvents(candidates, text), payloadTexts);
      backpressure.check();
      try {
        await inbox.enqueue(events, text.length);
      } catch (error) {
        throw fromDatabaseError(error);
      }
      onAccepted?.(events);
      set.status = 202;
      return { accepted: events.length };
    },
    {
      parse: 'none',
      detail: {
        summary: 'Publish one event or a batch',
        description: 'Atomic: either every event is durably enqueued (202) or none is.',
        requestBody: {
          required: true,
          content: { ...jsonContent(PublishBody), 'application/x-ndjson': { schema: { type: 'string', description: 'One Event per line.' } } },
        },
        responses: {
          202: { description: 'Durably enqueued', content: jsonContent(PublishAccepted) },
          400: { description: 'Malformed or invalid; nothing stored', content: jsonContent(ErrorBody) },
          401: { description: 'Missing or wrong bearer token', content: jsonContent(ErrorBody) },
          413: { description: 'Body over MAX_BODY_BYTES or batch over MAX_BATCH', content: jsonContent(ErrorBody) },
          415: { description: 'Content type other than JSON or NDJSON', content: jsonContent(ErrorBody) },
          429: { description: 'Backlog over MAX_PENDING; honour Retry-After', content: jsonContent(ErrorBody) },
          503: { description: 'Storage unavailable or replica draining; honour Retry-After', content: jsonContent(ErrorBody) },
        },
      },
    },
  );
}
