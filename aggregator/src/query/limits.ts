/**
 * The bounds of the Loki query API, one row per knob, like Loki's own defaults
 * (docs/QUERY.md "Bounds"). Going over one is a 400 that names it, never a 500 or a hang.
 */
export const QUERY_LIMITS = {
  // Lines per log query when the request gives no `limit`, and the most it may ask for.
  defaultLimit: 100,
  maxLimit: 5000,
  // Bytes of lines (and labels) one response may carry; reserved from the replica's read byte
  // budget (events/read-budget.ts) while the query runs.
  maxResponseBytes: 16 * 1024 * 1024,
  // Metric queries: series in the result, and points per series (Loki: 500 and 11,000).
  maxSeries: 500,
  maxPoints: 11_000,
  // Widest start..end (Loki's max_query_length, 30d1h).
  maxRangeMs: 721 * 3_600_000,
  // Wall time of one query, enforced on the database too (statement_timeout).
  timeoutMs: 30_000,
  // Payload bytes one query may read from the database before it is refused: bounds the work
  // of a query whose filters drop nearly every line of a long range.
  maxScanBytes: 2 * 1024 * 1024 * 1024,
  // Rows per statement of the scan, newest (or oldest) first.
  chunkRows: 2000,
  // Metadata calls (labels, label values, series, index stats) look at the newest this-many
  // events of their range: label sets change slowly, and an answer in bounded time matters
  // more to Grafana's label browser than an exhaustive one.
  metadataRows: 20_000,
  // Queries running at once on a replica (each holds one database connection while it runs).
  concurrency: 2,
  // Live tails open at once on a replica.
  maxTails: 100,
  // A tail reads new events when the replica is woken for them (the subscribe notifier), and
  // also this often in case a wake-up was lost (as /subscribe's sweep).
  tailPollMs: 5_000,
} as const;

export type QueryLimits = { -readonly [K in keyof typeof QUERY_LIMITS]: number };
