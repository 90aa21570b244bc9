/**
 * The one reader of the environment. `loadConfig` is pure: it parses every variable of the
 * contract, collects all problems, and throws one ConfigError listing them, so a bad deployment
 * fails before the process listens.
 */

import { readFileSync } from 'node:fs';
import { TOPIC_RULE, isTopic } from './api/contract';
import { type TokenGrant, checkGrants, parsePlainTokens, parseScopedTokens } from './auth/tokens';
import { parseDuration } from './retention/duration';

/** Defaults and limits, one row per variable. */
const DEFAULTS = {
  PORT: 8080,
  // Worker loops per process. Each applies a different partition; with fewer loops than ingest
  // has backends, the workers lose the CPU to ingest under load and the backlog grows (measured:
  // drain after a 20 s load fell from 1.6 s with 2 loops to 0.1 s with 4 on a 2-core host).
  WORKERS: 4,
  // Events applied per worker transaction. Larger claims mean fewer round trips and commits.
  BATCH_SIZE: 2000,
  MAX_BODY_BYTES: 5 * 1024 * 1024,
  // Byte budgets, each a bound on what one request or loop holds in a replica (512 MiB pod):
  // payload bytes per GET /events page and per /subscribe read (a page or read always holds
  // at least one event, so paging never stalls on a large one), per worker claim (memory and
  // statement time in PostgreSQL), and per group-commit statement built in this process.
  MAX_PAGE_BYTES: 4 * 1024 * 1024,
  SUBSCRIBE_READ_BYTES: 1024 * 1024,
  CLAIM_BYTES: 16 * 1024 * 1024,
  INGEST_STATEMENT_BYTES: 16 * 1024 * 1024,
  // All GET /events pages and /subscribe reads of a replica together: each reserves its budget
  // above while it reads; more wait their turn (events/read-budget.ts).
  READ_BYTES_IN_FLIGHT: 48 * 1024 * 1024,
  // An event that failed to apply even alone is parked (kept, counted as pending) and retried
  // after this long, in case the cause was temporary.
  PARKED_RETRY_MS: 60_000,
  MAX_BATCH: 5000,
  // The decode budget of one ingest request (docs/LIMITS.md), enforced while the body is decoded
  // and before any event is built: records, containers (empty ones too), attributes and labels
  // counted as read; payload bytes as mapping would produce them, shared resource attributes
  // and stream labels counted once per record they are copied into; JSON nesting depth.
  INGEST_MAX_ITEMS: 200_000,
  INGEST_MAX_PAYLOAD_BYTES: 16 * 1024 * 1024,
  // Far below PostgreSQL's JSON parser limit (max_stack_depth near 16,400 nested objects).
  MAX_JSON_DEPTH: 64,
  // A body must arrive whole within this long after the handler starts reading it: a client
  // trickling bytes holds a socket and a buffer, and Bun's idle timeout resets on every byte.
  BODY_READ_TIMEOUT_MS: 30_000,
  // All ingest requests of a replica being decoded and enqueued together: each reserves ten
  // times its decoded body (ingest/accept.ts DECODE_EXPANSION); more wait their turn, holding
  // only their body. One body at MAX_BODY_BYTES at a time (smaller ones side by side): 16
  // concurrent worst-case requests peaked at 483 MiB RSS with it, 719 MiB with 128 MiB.
  INGEST_BYTES_IN_FLIGHT: 64 * 1024 * 1024,
  // Backpressure: /publish answers 429 while more events than this wait in the inbox.
  MAX_PENDING: 1_000_000,
  // Upper bound on a graceful drain after SIGTERM; the chart's grace period is longer.
  DRAIN_TIMEOUT_MS: 10_000,
  // A seq-drawing statement older than this is ended so readers wait no longer (events/horizon.ts).
  DRAWER_TIMEOUT_MS: 4_000,
  // Connections per process: one per worker, the rest shared by HTTP requests.
  DB_POOL_SIZE: 12,
  DATA_DIR: './data',
  // Retention (docs/ARCHITECTURE.md "Storage layout"). A week covers a weekend plus the time to
  // notice and replay a consumer's outage, and is what Kafka and JetStream users expect; storage
  // per event is about 2x its JSON, so budget the disk for a week of your rate.
  RETENTION: '7d',
  // How long (topic, event_id) keys outlive the events: copies arriving within it are duplicates
  // even after the payload expired. Must be >= RETENTION (and any topic's override), else a late
  // copy of a still-stored event would be stored twice. Equal by default: a key costs ~120 bytes
  // (measured, short ids) against a few hundred for an event; generations keep keys up to 1.5 windows.
  DEDUP_WINDOW: '7d',
  // Width of an events partition: expiry is late by at most this much, storage overshoots by
  // about this/RETENTION, and a read merges about RETENTION/this partitions. 6h: 30 partitions, 4%.
  STORAGE_INTERVAL: '6h',
  // Size cap on stored events in bytes; 0 is off. Over it, the partitions with the earliest
  // deadlines are dropped first (never the one being written).
  MAX_STORAGE_BYTES: 0,
  LOG_LEVEL: 'info',
  // Shipper protocols (OTLP, Loki, bulk): the topic of a record that names none (no
  // service.name, none of the Loki topic labels).
  INGEST_DEFAULT_TOPIC: 'logs',
  // Loki push: the stream labels tried in order for the topic. Alloy and recent Loki clients set
  // service_name; Promtail configs usually carry app or job.
  LOKI_TOPIC_LABELS: 'service_name,app,job',
  // Concurrent GET /subscribe streams per replica: each holds a socket, a page of memory and a
  // timer slot; far above what one dashboard fleet needs, far below what exhausts a replica.
  SUBSCRIBE_MAX: 1000,
  // Per token name (per client address when auth is off): one misbehaving reader cannot take
  // the replica's whole budget.
  SUBSCRIBE_MAX_PER_TOKEN: 100,
  // Subscriber reads in flight at once, on the shared pool: they hold at most this many of
  // DB_POOL_SIZE connections, so workers and ingest always find one (subscribe/limit.ts).
  SUBSCRIBE_READ_CONCURRENCY: 2,
} as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** Unset: start an embedded PostgreSQL in dataDir. */
  readonly databaseUrl: string | undefined;
  /**
   * READ_DATABASE_URL: a hot standby streaming from DATABASE_URL's server; GET /events pages are
   * read there (docs/SCALING.md "Reads from streaming replicas (hot standby)"). Unset: the primary.
   */
  readonly readDatabaseUrl: string | undefined;
  readonly dataDir: string;
  readonly port: number;
  /** REUSE_PORT: share the port with other processes (SO_REUSEPORT); off, a second logbus on it refuses to start. */
  readonly reusePort: boolean;
  readonly workers: number;
  readonly batchSize: number;
  readonly maxBodyBytes: number;
  readonly maxPageBytes: number;
  readonly subscribeReadBytes: number;
  readonly claimBytes: number;
  readonly ingestStatementBytes: number;
  readonly parkedRetryMs: number;
  readonly readBytesInFlight: number;
  readonly maxBatch: number;
  /** Decode budget per ingest request (INGEST_MAX_ITEMS, INGEST_MAX_PAYLOAD_BYTES, MAX_JSON_DEPTH). */
  readonly ingestMaxItems: number;
  readonly ingestMaxPayloadBytes: number;
  readonly maxJsonDepth: number;
  readonly bodyReadTimeoutMs: number;
  readonly ingestBytesInFlight: number;
  readonly maxPending: number;
  readonly drainTimeoutMs: number;
  /** Longest a seq-drawing transaction may hold readers back before it is ended (DRAWER_TIMEOUT_MS). */
  readonly drawerTimeoutMs: number;
  readonly dbPoolSize: number;
  /**
   * Accepted bearer tokens with their scopes (AUTH_TOKEN, AUTH_TOKENS, AUTH_TOKENS_FILE; see
   * auth/tokens.ts); empty means auth is off. Several allow rotation without downtime.
   */
  readonly authTokens: readonly TokenGrant[];
  /** GET /metrics needs a `read` or `metrics` token (it shows topic names). */
  readonly metricsAuth: boolean;
  /** EVENTLOOP_MONITOR: measure the longest event-loop block for /metrics (ops/metrics/loop-block.ts). */
  readonly eventLoopMonitor: boolean;
  readonly subscribeMax: number;
  readonly subscribeMaxPerToken: number;
  readonly subscribeReadConcurrency: number;
  readonly logLevel: LogLevel;
  /** Topic for shipper records that name none (INGEST_DEFAULT_TOPIC). */
  readonly ingestDefaultTopic: string;
  /** Loki stream labels tried in order for the topic (LOKI_TOPIC_LABELS). */
  readonly lokiTopicLabels: readonly string[];
  readonly retentionMs: number;
  readonly dedupWindowMs: number;
  readonly storageIntervalMs: number;
  /** 0: no size cap. */
  readonly maxStorageBytes: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Parses and validates the environment; throws ConfigError listing every problem. `readFile`
 * reads AUTH_TOKENS_FILE (a mounted Secret); tests pass their own.
 */
export function loadConfig(env: Env = process.env, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): Config {
  const problems: string[] = [];

  const int = (name: keyof typeof DEFAULTS, min: number, max: number): number => {
    const fallback = DEFAULTS[name] as number;
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw.trim());
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };

  const duration = (name: 'RETENTION' | 'DEDUP_WINDOW' | 'STORAGE_INTERVAL', min: number): number => {
    const raw = env[name]?.trim() || DEFAULTS[name];
    const ms = parseDuration(raw);
    if (ms === null || ms < min || (name !== 'STORAGE_INTERVAL' && ms % 1000 !== 0)) {
      const unit = name === 'STORAGE_INTERVAL' ? `at least ${min} ms` : 'whole seconds, at least 1s';
      problems.push(`${name}=${JSON.stringify(raw)}: expected a duration like 7d, 12h, 30s (${unit})`);
      return parseDuration(DEFAULTS[name])!;
    }
    return ms;
  };

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: expected a postgres:// or postgresql:// URL');
  }
  const readDatabaseUrl = env.READ_DATABASE_URL?.trim() || undefined;
  if (readDatabaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(readDatabaseUrl)) {
    problems.push('READ_DATABASE_URL: expected a postgres:// or postgresql:// URL');
  } else if (readDatabaseUrl !== undefined && databaseUrl === undefined) {
    // The embedded server has no standby: the reads would go to a server that does not follow it.
    problems.push('READ_DATABASE_URL needs DATABASE_URL (a standby of the embedded server cannot be named)');
  }

  const logLevel = (env.LOG_LEVEL?.trim() || DEFAULTS.LOG_LEVEL) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)}: expected one of ${LOG_LEVELS.join(', ')}`);
  }

  const authTokens = [...parsePlainTokens(env.AUTH_TOKEN ?? '', problems), ...parseScopedTokens(env.AUTH_TOKENS ?? '', 'AUTH_TOKENS', problems)];
  const tokensFile = env.AUTH_TOKENS_FILE?.trim();
  if (tokensFile) {
    try {
      authTokens.push(...parseScopedTokens(readFile(tokensFile), 'AUTH_TOKENS_FILE', problems));
    } catch (error) {
      problems.push(`AUTH_TOKENS_FILE=${JSON.stringify(tokensFile)}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  checkGrants(authTokens, problems);

  const ingestDefaultTopic = env.INGEST_DEFAULT_TOPIC?.trim() || DEFAULTS.INGEST_DEFAULT_TOPIC;
  if (!isTopic(ingestDefaultTopic)) {
    problems.push(`INGEST_DEFAULT_TOPIC=${JSON.stringify(env.INGEST_DEFAULT_TOPIC)}: expected a topic name (${TOPIC_RULE})`);
  }
  const lokiTopicLabels = (env.LOKI_TOPIC_LABELS?.trim() || DEFAULTS.LOKI_TOPIC_LABELS)
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label.length > 0);
  if (lokiTopicLabels.some((label) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(label))) {
    problems.push(`LOKI_TOPIC_LABELS=${JSON.stringify(env.LOKI_TOPIC_LABELS)}: expected comma-separated Loki label names`);
  }

  const flag = (name: string, given: string | undefined): boolean => {
    const raw = (given?.trim() || 'false').toLowerCase();
    if (!['true', 'false', '1', '0'].includes(raw)) problems.push(`${name}=${JSON.stringify(given)}: expected true or false`);
    return raw === 'true' || raw === '1';
  };
  const metricsAuth = flag('METRICS_AUTH', env.METRICS_AUTH);
  const reusePort = flag('REUSE_PORT', env.REUSE_PORT);
  const eventLoopMonitor = flag('EVENTLOOP_MONITOR', env.EVENTLOOP_MONITOR);
  // The chart sets it whenever a token Secret is configured: a Secret missing its keys must
  // stop the pod, not start it with auth off.
  if (flag('AUTH_REQUIRED', env.AUTH_REQUIRED) && authTokens.length === 0)
    problems.push('AUTH_REQUIRED=true but no token is configured (AUTH_TOKEN, AUTH_TOKENS or AUTH_TOKENS_FILE)');

  const workers = int('WORKERS', 0, 64);
  const dbPoolSize = int('DB_POOL_SIZE', 2, 200);
  const config: Config = {
    databaseUrl,
    readDatabaseUrl,
    dataDir: env.DATA_DIR?.trim() || DEFAULTS.DATA_DIR,
    port: int('PORT', 0, 65535),
    reusePort,
    workers,
    batchSize: int('BATCH_SIZE', 1, 50_000),
    maxBodyBytes: int('MAX_BODY_BYTES', 1024, 512 * 1024 * 1024),
    maxPageBytes: int('MAX_PAGE_BYTES', 1, 256 * 1024 * 1024),
    subscribeReadBytes: int('SUBSCRIBE_READ_BYTES', 1, 256 * 1024 * 1024),
    claimBytes: int('CLAIM_BYTES', 1, 1024 * 1024 * 1024),
    ingestStatementBytes: int('INGEST_STATEMENT_BYTES', 1, 1024 * 1024 * 1024),
    parkedRetryMs: int('PARKED_RETRY_MS', 100, 86_400_000),
    readBytesInFlight: int('READ_BYTES_IN_FLIGHT', 1, 4 * 1024 * 1024 * 1024),
    maxBatch: int('MAX_BATCH', 1, 100_000),
    ingestMaxItems: int('INGEST_MAX_ITEMS', 1, 10_000_000),
    ingestMaxPayloadBytes: int('INGEST_MAX_PAYLOAD_BYTES', 1024, 1024 * 1024 * 1024),
    maxJsonDepth: int('MAX_JSON_DEPTH', 2, 1000),
    bodyReadTimeoutMs: int('BODY_READ_TIMEOUT_MS', 100, 3_600_000),
    ingestBytesInFlight: int('INGEST_BYTES_IN_FLIGHT', 1024 * 1024, 16 * 1024 * 1024 * 1024),
    maxPending: int('MAX_PENDING', 1, 1_000_000_000),
    drainTimeoutMs: int('DRAIN_TIMEOUT_MS', 0, 600_000),
    drawerTimeoutMs: int('DRAWER_TIMEOUT_MS', 500, 600_000),
    dbPoolSize,
    authTokens,
    metricsAuth,
    eventLoopMonitor,
    subscribeMax: int('SUBSCRIBE_MAX', 1, 1_000_000),
    subscribeMaxPerToken: int('SUBSCRIBE_MAX_PER_TOKEN', 1, 1_000_000),
    // Unset: the default, lowered on a small pool so one connection stays for ingest.
    subscribeReadConcurrency: env.SUBSCRIBE_READ_CONCURRENCY?.trim()
      ? int('SUBSCRIBE_READ_CONCURRENCY', 1, 64)
      : Math.max(1, Math.min(DEFAULTS.SUBSCRIBE_READ_CONCURRENCY, dbPoolSize - workers - 1)),
    logLevel,
    ingestDefaultTopic,
    lokiTopicLabels: Object.freeze(lokiTopicLabels),
    retentionMs: duration('RETENTION', 1_000),
    dedupWindowMs: duration('DEDUP_WINDOW', 1_000),
    storageIntervalMs: duration('STORAGE_INTERVAL', 100),
    maxStorageBytes: int('MAX_STORAGE_BYTES', 0, Number.MAX_SAFE_INTEGER),
  };

  if (config.dbPoolSize <= config.workers) {
    problems.push(`DB_POOL_SIZE (${config.dbPoolSize}) must exceed WORKERS (${config.workers}) so HTTP requests keep a connection`);
  }
  if (config.dedupWindowMs < config.retentionMs) {
    problems.push(
      `DEDUP_WINDOW (${env.DEDUP_WINDOW ?? DEFAULTS.DEDUP_WINDOW}) must be at least RETENTION (${env.RETENTION ?? DEFAULTS.RETENTION}): keys must outlive the events they protect`,
    );
  }
  // Every retention is at most DEDUP_WINDOW, and a retention spans retention/interval partitions
  // that exist at once: more than a thousand makes every read merge a thousand index scans.
  if (config.dedupWindowMs / config.storageIntervalMs > 1000) {
    problems.push(
      `STORAGE_INTERVAL (${env.STORAGE_INTERVAL ?? DEFAULTS.STORAGE_INTERVAL}) is too short for DEDUP_WINDOW (${env.DEDUP_WINDOW ?? DEFAULTS.DEDUP_WINDOW}): at most 1000 partitions per window`,
    );
  }
  if (env.SUBSCRIBE_READ_CONCURRENCY?.trim() && config.subscribeReadConcurrency >= config.dbPoolSize - config.workers) {
    problems.push(
      `SUBSCRIBE_READ_CONCURRENCY (${config.subscribeReadConcurrency}) must be below DB_POOL_SIZE - WORKERS (${config.dbPoolSize - config.workers}) so subscribers never take every connection left to ingest`,
    );
  }
  if (config.metricsAuth && authTokens.length === 0) problems.push('METRICS_AUTH=true needs tokens (AUTH_TOKEN, AUTH_TOKENS or AUTH_TOKENS_FILE)');
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
