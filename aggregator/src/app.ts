/**
 * createApp wires the feature plugins into one Elysia instance and maps every error to the
 * contract body in one place. No I/O happens here; main.ts owns the lifecycle.
 */
import { openapi } from '@elysiajs/openapi';
import { Elysia, type ValidationError as ElysiaValidationError } from 'elysia';
import type { Config } from './config';
import { type RegisteredRoute, allowedMethods } from './api/methods';
import type { Sql } from './db/client';
import { AppError, MethodNotAllowed, NotFound, StorageUnavailable, ValidationError, fromDatabaseError, schemaDetails } from './errors';
import type { HorizonSource, ReadHorizon } from './events/horizon';
import { ReadBudget } from './events/read-budget';
import { eventsRoutes } from './events/routes';
import type { Backpressure } from './ingest/backpressure';
import type { EnqueueCoalescer } from './ingest/coalescer';
import { createAcceptor } from './ingest/accept';
import type { DecodePool } from './ingest/decode-pool';
import { elasticRootResponse } from './ingest/elastic/respond';
import { elasticRoutes } from './ingest/elastic/routes';
import { lokiRoutes } from './ingest/loki/routes';
import { otlpRoutes } from './ingest/otlp/routes';
import { ingestRoutes } from './ingest/routes';
import type { Logger } from './log';
import { dashboardRoutes } from './dashboard/routes';
import { Authenticator, authGuard } from './auth/guard';
import type { DatabaseOutage } from './ops/outage';
import { type Lifecycle, healthRoutes } from './ops/health';
import { type Metrics, metricsRoutes } from './ops/metrics/metrics';
import { loggablePath, noteError, requestIdOf, requestLog, requestStartOf } from './ops/request-log';
import { QueryEngine } from './query/engine';
import { QUERY_LIMITS } from './query/limits';
import { queryRoutes } from './query/routes';
import { topicsRoutes } from './retention/routes';
import { statsRoutes } from './stats/routes';
import type { SubscriptionHub } from './subscribe/hub';
import { subscribeRoutes } from './subscribe/routes';

export interface AppDeps {
  config: Config;
  sql: Sql;
  /** Writes accepted batches to the inbox (group commit). */
  inbox: Pick<EnqueueCoalescer, 'enqueue'>;
  /** Decodes large bodies off the event loop, and stores them (ingest/decode-pool.ts). */
  decoder: Pick<DecodePool, 'prepare'>;
  lifecycle: Lifecycle;
  backpressure: Pick<Backpressure, 'check'>;
  log: Logger;
  metrics: Metrics;
  subscriptions: SubscriptionHub;
  /** One retention maintenance round now (PUT /topics/:topic); a no-op where no maintainer runs. */
  maintainRetention?: () => Promise<unknown>;
  /** Bytes that GET /events pages may hold at once (shared with /subscribe reads). */
  readBudget: ReadBudget;
  /** What every read of this replica sees up to (shared with /subscribe and the dashboard). */
  horizon: ReadHorizon;
  /** Counts 503s of a database outage, logged once per state change (ops/outage.ts). */
  outage?: DatabaseOutage;
  /** READ_DATABASE_URL: where GET /events pages are read, and their bound (events/standby.ts). Unset: sql and horizon. */
  standbyReads?: { sql: Sql; horizon: HorizonSource };
}

/** Elysia's own validation error (query strings) in the contract shape. */
function fromElysiaValidation(error: ElysiaValidationError): ValidationError {
  const issues = error.all.map((issue) => ({
    path: 'path' in issue && issue.path ? issue.path : '',
    message: 'message' in issue ? String(issue.message) : 'invalid value',
  }));
  return new ValidationError(`invalid ${error.type}`, schemaDetails(issues, null));
}

export function createApp({
  config,
  sql,
  inbox,
  decoder,
  lifecycle,
  backpressure,
  log,
  metrics,
  subscriptions,
  readBudget,
  horizon,
  maintainRetention = async () => {},
  outage,
  standbyReads,
}: AppDeps) {
  // Every ingest route, /publish and the shipper protocols, ends in this one acceptor.
  const acceptor = createAcceptor({
    inbox,
    backpressure,
    isDraining: () => lifecycle.draining,
    onAccepted: metrics.observeAccepted,
    decodeGate: new ReadBudget(config.ingestBytesInFlight),
    decoder,
  });
  const { ingestDefaultTopic: defaultTopic } = config;
  const auth = new Authenticator({ tokens: config.authTokens, metricsAuth: config.metricsAuth });
  // onError reads the registered routes at request time (405 vs 404), once the app is built.
  let routes: () => readonly RegisteredRoute[] = () => [];
  const remember = <App extends { routes: readonly RegisteredRoute[] }>(app: App): App => {
    routes = () => app.routes;
    return app;
  };
  return remember(
    new Elysia()
      // First, so every response (a 401 included) carries x-request-id and is measured.
      .use(requestLog({ log, metrics, outage }))
      // Before every route, so its hooks apply to all of them (deny by default; auth/access.ts).
      .use(authGuard(auth))
      .use(
        openapi({
          // Its UIs load an unpinned script from a CDN (blank without internet): only the JSON
          // here; GET /openapi is our own page (dashboard/api-reference.*).
          provider: null,
          documentation: {
            info: {
              title: 'logbus aggregator',
              version: '0.1.0',
              description: 'Publish log events, deduplicated on (topic, event_id); page and subscribe per topic.',
            },
          },
        }),
      )
      .onError(({ code, error, request, path, set }) => {
        // No route matched: route hooks never ran, so the token is checked here (401 before 404).
        if (code === 'NOT_FOUND') {
          try {
            auth.checkUnmatched(request);
            const allowed = allowedMethods(routes(), path);
            if (allowed.length > 0) error = new MethodNotAllowed(request.method, path, allowed);
          } catch (refused) {
            error = refused as Error;
          }
        }
        const mapped = fromDatabaseError(error);
        if (mapped instanceof StorageUnavailable) outage?.failed(mapped.cause, requestStartOf(request));
        noteError(request, mapped);
        const response = toErrorResponse(code, mapped, request, path, log);
        // The request log and metrics read the status from here (see ops/request-log.ts).
        set.status = response.status;
        return response;
      })
      .use(healthRoutes(sql, lifecycle))
      .use(ingestRoutes(acceptor, config))
      .use(otlpRoutes(acceptor, { limits: config, defaultTopic }))
      .use(lokiRoutes(acceptor, { limits: config, defaultTopic, topicLabels: config.lokiTopicLabels }))
      .use(elasticRoutes(acceptor, config))
      .use(eventsRoutes(standbyReads?.sql ?? sql, config.maxPageBytes, readBudget, standbyReads?.horizon ?? horizon))
      .use(subscribeRoutes({ hub: subscriptions, isDraining: () => lifecycle.draining }))
      .use(statsRoutes(sql))
      .use(topicsRoutes({ sql, config, maintain: maintainRetention }))
      .use(metricsRoutes(metrics))
      .use(
        queryRoutes(
          new QueryEngine({ sql, horizon, budget: readBudget, limits: { ...QUERY_LIMITS }, onWake: (listener) => subscriptions.onWake(listener) }),
        ),
      )
      .use(dashboardRoutes(sql, { rootForClients: elasticRootResponse, horizon })),
  );
}

/**
 * Maps an error (database outages already translated) to the contract body; an unexpected one
 * is logged with its request id, which the body returns so a user's report finds the line.
 */
function toErrorResponse(code: unknown, error: unknown, request: Request, path: string, log: Logger): Response {
  if (error instanceof AppError) return error.toResponse();
  if (code === 'VALIDATION') return fromElysiaValidation(error as ElysiaValidationError).toResponse();
  if (code === 'NOT_FOUND') return new NotFound('no such route').toResponse();
  if (code === 'PARSE') return new ValidationError('malformed request body').toResponse();
  const requestId = requestIdOf(request);
  log.error({ err: error, reqId: requestId, method: request.method, path: loggablePath(path) }, 'unhandled error');
  return new Response(JSON.stringify({ error: 'internal error', request_id: requestId }), {
    status: 500,
    headers: { 'content-type': 'application/json' },
  });
}

export type App = ReturnType<typeof createApp>;
