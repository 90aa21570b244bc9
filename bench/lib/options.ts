/**
 * Command-line options of `npm run bench`. `toOptions` is pure: it turns parsed flags into a
 * frozen Options or throws one UsageError listing every problem.
 */
import { parseArgs } from 'node:util';

export const SCENARIOS = [
  'ceiling',
  'seed',
  'sustained',
  'topics',
  'soak',
  'scale',
  'idle',
  'protocols',
  'retention',
  'recovery',
  'latency',
  'query',
  'cost',
  'shards',
  'standby',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Options {
  only: readonly ScenarioName[];
  runs: number;
  json: boolean;
  /** Also write the JSON report to this file (to compare runs later). */
  save: string | null;
  quick: boolean;
  /** Seconds of the sustained load and of each raw-SQL ceiling run. */
  seconds: number;
  connections: number;
  batch: number;
  dupRate: number;
  topics: number;
  seedEvents: number;
  seedDupRate: number;
  seedClients: number;
  /** Inbox rows per claim of the naive ceiling's workers. */
  claim: number;
  soakSeconds: number;
  /** Stored events of the two scale stages, smaller first. */
  scaleRows: readonly [number, number];
  /** Fixed publish rate (requests/s) and duration of each scale measurement. */
  scaleRate: number;
  scaleSeconds: number;
  /** GET /events reads per kind (random offset, tail) per scale measurement. */
  scaleReads: number;
  idleSeconds: number;
  /** Events applied per layout by the retention scenario's apply-rate runs. */
  retentionEvents: number;
  /** Events in the partition the retention scenario drops under publish load. */
  dropRows: number;
  drainTimeoutSeconds: number;
  replicas: number;
  /** Stored events of the query scenario, and sequential reads per query kind per run. */
  queryRows: number;
  queryReads: number;
  /** Extra aggregator environment (WORKERS, BATCH_SIZE, MAX_PENDING, …). */
  env: Readonly<Record<string, string>>;
}

/** Defaults: the full suite in about 15–20 minutes on the 2-core development machine. */
const DEFAULTS = {
  runs: 3,
  seconds: 20,
  connections: 50,
  batch: 50,
  dupRate: 0.37,
  // 8 topics land on 8 distinct inbox partitions (of 32), so several workers can apply at once.
  topics: 8,
  seedEvents: 20_000,
  seedDupRate: 0.3,
  seedClients: 8,
  claim: 500,
  soakSeconds: 300,
  scaleRows: '100000,10000000',
  // 100 requests/s = 5,000 events/s: well under capacity, so latency reflects the table size,
  // not queueing.
  scaleRate: 100,
  // 1,000 publish requests per measurement, so p99 is the 10th slowest, not a single outlier.
  scaleSeconds: 10,
  scaleReads: 200,
  idleSeconds: 30,
  retentionEvents: 400_000,
  // The issue's figure: p99 while a partition holding a million events is dropped.
  dropRows: 1_000_000,
  drainTimeoutSeconds: 180,
  replicas: 1,
  // The issue's figure: the scale scenario's 10,000,000 events.
  queryRows: 10_000_000,
  queryReads: 50,
};

/** --quick: a smoke test of every scenario in about three minutes. */
const QUICK = {
  runs: 2,
  seconds: 5,
  soakSeconds: 30,
  scaleRows: '100000,1000000',
  scaleSeconds: 3,
  scaleReads: 50,
  idleSeconds: 9,
  retentionEvents: 100_000,
  dropRows: 200_000,
  queryRows: 200_000,
  queryReads: 10,
};

export const USAGE = `Usage: npm run bench -- [options]

  --only LIST          scenarios to run, comma-separated: ${SCENARIOS.join(',')} (default: all)
  --runs N             runs per figure; the table shows the median and min–max (default ${DEFAULTS.runs})
  --quick              short durations for a smoke test (~3 min): ${Object.entries(QUICK)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}
  --json               print the results as JSON instead of markdown
  --save FILE          also write the JSON results to FILE (whatever is printed)
  --seconds S          sustained load and raw-SQL ceiling duration (default ${DEFAULTS.seconds})
  --connections N      HTTP connections and raw-SQL clients (default ${DEFAULTS.connections})
  --batch N            events per request / statement (default ${DEFAULTS.batch})
  --dup-rate R         duplicate share of the sustained load (default ${DEFAULTS.dupRate})
  --topics N           topics the events spread over (default ${DEFAULTS.topics})
  --claim N            rows per claim of the naive ceiling's workers (default ${DEFAULTS.claim})
  --soak-seconds S     soak duration (default ${DEFAULTS.soakSeconds})
  --scale-rows A,B     stored events of the two scale stages (default ${DEFAULTS.scaleRows})
  --scale-rate N       publish requests/s during a scale measurement (default ${DEFAULTS.scaleRate})
  --idle-seconds S     idle CPU window, split into three samples (default ${DEFAULTS.idleSeconds})
  --retention-events N events applied per layout in the retention scenario (default ${DEFAULTS.retentionEvents})
  --drop-rows N        events in the partition dropped under load (default ${DEFAULTS.dropRows})
  --drain-timeout S    give up waiting for pending == 0 after this long (default ${DEFAULTS.drainTimeoutSeconds})
  --query-rows N       stored events of the query scenario (default ${DEFAULTS.queryRows})
  --query-reads N      sequential reads per query kind per run (default ${DEFAULTS.queryReads})
  --replicas N         aggregator processes sharing the database (default ${DEFAULTS.replicas})
  --env KEY=VALUE      aggregator environment, repeatable (e.g. --env WORKERS=4 --env BATCH_SIZE=5000)
  -h, --help           this text
`;

export class UsageError extends Error {}

const FLAGS = {
  only: { type: 'string' },
  runs: { type: 'string' },
  quick: { type: 'boolean' },
  json: { type: 'boolean' },
  save: { type: 'string' },
  seconds: { type: 'string' },
  connections: { type: 'string' },
  batch: { type: 'string' },
  'dup-rate': { type: 'string' },
  topics: { type: 'string' },
  claim: { type: 'string' },
  'soak-seconds': { type: 'string' },
  'scale-rows': { type: 'string' },
  'scale-rate': { type: 'string' },
  'idle-seconds': { type: 'string' },
  'retention-events': { type: 'string' },
  'drop-rows': { type: 'string' },
  'drain-timeout': { type: 'string' },
  replicas: { type: 'string' },
  'query-rows': { type: 'string' },
  'query-reads': { type: 'string' },
  env: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Parses argv; returns null when --help was asked for. */
export function parseOptions(argv: string[]): Options | null {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof FLAGS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return null;
  return toOptions(values);
}

type Values = {
  [K in keyof typeof FLAGS]?: (typeof FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof FLAGS)[K]['type'] extends 'boolean'
      ? boolean
      : string;
};

export function toOptions(values: Values): Options {
  const problems: string[] = [];
  const base = values.quick ? { ...DEFAULTS, ...QUICK } : DEFAULTS;
  const num = (flag: keyof typeof FLAGS, fallback: number, min: number, max: number, integer = true): number => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      problems.push(`--${flag} ${raw}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };

  const only = (values.only ?? SCENARIOS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of only)
    if (!SCENARIOS.includes(name as ScenarioName)) problems.push(`--only: unknown scenario "${name}" (known: ${SCENARIOS.join(', ')})`);

  const rows = (values['scale-rows'] ?? base.scaleRows).split(',').map((s) => Number(s.replaceAll('_', '')));
  if (rows.length !== 2 || rows.some((n) => !Number.isInteger(n) || n < 1000) || rows[0]! >= rows[1]!) {
    problems.push(`--scale-rows ${values['scale-rows']}: expected two increasing row counts of at least 1000, e.g. 100000,10000000`);
  }

  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (!match) problems.push(`--env ${pair}: expected KEY=VALUE`);
    else if (['DATABASE_URL', 'PORT', 'DATA_DIR'].includes(match[1]!)) problems.push(`--env ${match[1]}: set by the bench itself`);
    else env[match[1]!] = match[2]!;
  }

  const options: Options = {
    only: SCENARIOS.filter((s) => only.includes(s)),
    runs: num('runs', base.runs, 1, 50),
    json: values.json ?? false,
    save: values.save ?? null,
    quick: values.quick ?? false,
    seconds: num('seconds', base.seconds, 1, 3600),
    connections: num('connections', DEFAULTS.connections, 1, 1000),
    batch: num('batch', DEFAULTS.batch, 1, 5000),
    dupRate: num('dup-rate', DEFAULTS.dupRate, 0, 0.95, false),
    topics: num('topics', DEFAULTS.topics, 1, 1000),
    seedEvents: DEFAULTS.seedEvents,
    seedDupRate: DEFAULTS.seedDupRate,
    seedClients: DEFAULTS.seedClients,
    claim: num('claim', DEFAULTS.claim, 1, 100_000),
    soakSeconds: num('soak-seconds', base.soakSeconds, 10, 24 * 3600),
    scaleRows: [rows[0] ?? 0, rows[1] ?? 0],
    scaleRate: num('scale-rate', DEFAULTS.scaleRate, 1, 100_000),
    scaleSeconds: base.scaleSeconds,
    scaleReads: base.scaleReads,
    idleSeconds: num('idle-seconds', base.idleSeconds, 3, 3600),
    retentionEvents: num('retention-events', base.retentionEvents, 10_000, 100_000_000),
    dropRows: num('drop-rows', base.dropRows, 10_000, 100_000_000),
    drainTimeoutSeconds: num('drain-timeout', DEFAULTS.drainTimeoutSeconds, 1, 3600),
    replicas: num('replicas', DEFAULTS.replicas, 1, 16),
    queryRows: num('query-rows', base.queryRows, 1000, 1_000_000_000),
    queryReads: num('query-reads', base.queryReads, 1, 10_000),
    env,
  };
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return Object.freeze(options);
}
