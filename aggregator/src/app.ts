/**
 * createApp wires the feature plugins into one Elysia instance and maps every error to the
 * contract body in one place. No I/O happens here; main.ts owns the lifecycle.
 */
import { openapi } from '@elysiajs/openapi';
import { Elysia, ValidationError as ElysiaValidationError } from 'elysia';
import type { Config } from './config';
import type { Sql } from './db/client';
import { AppError, type Detail, NotFound, ValidationError, fromDatabaseError } from './errors';
import { eventsRoutes } from './events/routes';
import type { Backpressure } from './ingest/backpressure';
import type { EnqueueCoalescer } from './ingest/coalescer';
import { ingestRoutes } from './ingest/routes';
import type { Logger } from './log';
import { type Lifecycle, healthRoutes } from './ops/health';
import { statsRoutes } from './stats/routes';
import type { Wakeup } from './workers/wakeup';

export interface AppDeps {
  config: Config;
  sql: Sql;
  /** Writes accepted batches to the inbox (group commit). */
  inbox: Pick<EnqueueCoalescer, 'enqueue'>;
  lifecycle: Lifecycle;
  wakeup: Pick<Wakeup, 'announce'>;
  backpressure: Pick<Backpressure, 'check'>;
  log: Logger;
}

/** Elysia's own validation error (query strings) in the contract shape. */
function fromElysiaValidation(error: ElysiaValidationError): ValidationError {
  const details: Detail[] = [];
  for (const issue of error.all) {
    const field = 'path' in issue && issue.path ? issue.path.replace(/^\//, '').replaceAll('/', '.') : null;
    if (details.some((d) => d.field === field)) continue;
    details.push({ index: null, field, message: 'message' in issue ? String(issue.message) : 'invalid value' });
  }
  return new ValidationError(`invalid ${error.type}`, details);
}

export function createApp({ config, sql, inbox, lifecycle, wakeup, backpressure, log }: AppDeps) {
  return new Elysia()
    .use(
      openapi({
        documentation: {
          info: {
            title: 'logbus aggregator',
            version: '0.1.0',
            description: 'Publish log events, deduplicated on (topic, event_id); page and subscribe per topic.',
          },
        },
      }),
    )
    .onError(({ code, error }) => {
      if (error instanceof AppError) return error.toResponse();
      if (code === 'VALIDATION') return fromElysiaValidation(error).toResponse();
      if (code === 'NOT_FOUND') return new NotFound('no such route').toResponse();
      if (code === 'PARSE') return new ValidationError('malformed request body').toResponse();
      const mapped = fromDatabaseError(error);
      if (mapped instanceof AppError) return mapped.toResponse();
      log.error({ err: error }, 'unhandled error');
      return new Response(JSON.stringify({ error: 'internal error' }), {
        status: 500,
        headers: { 'content-type': 'application/json' },
      });
    })
    .use(healthRoutes(sql, lifecycle))
    .use(
      ingestRoutes({
        inbox,
        config,
        wakeup,
        backpressure,
        isDraining: () => lifecycle.draining,
      }),
    )
    .use(eventsRoutes(sql))
    .use(statsRoutes(sql));
}

export type App = ReturnType<typeof createApp>;
