/**
 * The one reader of the environment. `loadConfig` is pure: it parses every variable of the
 * contract, collects all problems, and throws one ConfigError listing them, so a bad deployment
 * fails before the process listens.
 */

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
  // Backpressure: /publish answers 429 while more events than this wait in the inbox.
  MAX_PENDING: 1_000_000,
  // Upper bound on a graceful drain after SIGTERM; the chart's grace period is longer.
  DRAIN_TIMEOUT_MS: 10_000,
  // Connections per process: one per worker, the rest shared by HTTP requests.
  DB_POOL_SIZE: 12,
  DATA_DIR: './data',
  LOG_LEVEL: 'info',
} as const;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** Unset: start an embedded PostgreSQL in dataDir. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly port: number;
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
  readonly maxPending: number;
  readonly drainTimeoutMs: number;
  readonly dbPoolSize: number;
  /** Accepted bearer tokens; empty means auth is off. Several allow rotation without downtime. */
  readonly authTokens: readonly string[];
  readonly logLevel: LogLevel;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Parses and validates the environment; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
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

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: expected a postgres:// or postgresql:// URL');
  }

  const logLevel = (env.LOG_LEVEL?.trim() || DEFAULTS.LOG_LEVEL) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)}: expected one of ${LOG_LEVELS.join(', ')}`);
  }

  const authTokens = (env.AUTH_TOKEN ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token.length > 0);
  if (authTokens.some((token) => token.length < 16)) {
    problems.push('AUTH_TOKEN: every token must be at least 16 characters');
  }

  const config: Config = {
    databaseUrl,
    dataDir: env.DATA_DIR?.trim() || DEFAULTS.DATA_DIR,
    port: int('PORT', 0, 65535),
    workers: int('WORKERS', 0, 64),
    batchSize: int('BATCH_SIZE', 1, 50_000),
    maxBodyBytes: int('MAX_BODY_BYTES', 1024, 512 * 1024 * 1024),
    maxPageBytes: int('MAX_PAGE_BYTES', 1, 256 * 1024 * 1024),
    subscribeReadBytes: int('SUBSCRIBE_READ_BYTES', 1, 256 * 1024 * 1024),
    claimBytes: int('CLAIM_BYTES', 1, 1024 * 1024 * 1024),
    ingestStatementBytes: int('INGEST_STATEMENT_BYTES', 1, 1024 * 1024 * 1024),
    parkedRetryMs: int('PARKED_RETRY_MS', 100, 86_400_000),
    readBytesInFlight: int('READ_BYTES_IN_FLIGHT', 1, 4 * 1024 * 1024 * 1024),
    maxBatch: int('MAX_BATCH', 1, 100_000),
    maxPending: int('MAX_PENDING', 1, 1_000_000_000),
    drainTimeoutMs: int('DRAIN_TIMEOUT_MS', 0, 600_000),
    dbPoolSize: int('DB_POOL_SIZE', 2, 200),
    authTokens,
    logLevel,
  };

  if (config.dbPoolSize <= config.workers) {
    problems.push(`DB_POOL_SIZE (${config.dbPoolSize}) must exceed WORKERS (${config.workers}) so HTTP requests keep a connection`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
