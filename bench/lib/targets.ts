/**
 * The targets, each evaluated from the medians of this run (ratios use figures measured
 * in the same run on the same server). A target whose scenario did not run is "n/a".
 */
import type { ScenarioResult } from './scenario';
import type { Figure } from './summary';

export interface Target {
  target: string;
  goal: string;
  measured: string;
  pass: boolean | null;
}

type Results = Partial<Record<string, ScenarioResult>>;

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : 'n/a');

export function evaluateTargets(results: Results): Target[] {
  const fig = (scenario: string, key: string): Figure | null => results[scenario]?.runs.figures()[key] ?? null;
  const median = (scenario: string, key: string) => fig(scenario, key)?.median ?? Number.NaN;
  const targets: Target[] = [];
  const add = (target: string, goal: string, value: number, ok: (v: number) => boolean, measured = fmt(value)) =>
    targets.push({ target, goal, measured, pass: Number.isFinite(value) ? ok(value) : null });

  // Paired by round when both ran in every round (interleaved, so they shared the machine's
  // conditions); otherwise the ratio of the medians.
  const paired = median('sustained', 'ratio');
  const ratio = Number.isFinite(paired) ? paired : median('sustained', 'e2e') / median('ceiling', 'naive');
  add(
    'end-to-end HTTP rate / naive raw-SQL ceiling',
    '>= 1.0x',
    ratio,
    (v) => v >= 1,
    `${fmt(ratio)}x (${fmt(median('sustained', 'e2e'), 0)} / ${fmt(median('ceiling', 'naive'), 0)} ev/s)`,
  );
  add('drain after the sustained load', '<= 2 s', median('sustained', 'drain'), (v) => v <= 2, `${fmt(median('sustained', 'drain'))} s`);
  add('sustained latency p99', '<= 100 ms', median('sustained', 'p99'), (v) => v <= 100, `${fmt(median('sustained', 'p99'), 1)} ms`);
  const errors = fig('sustained', 'errors');
  add('sustained errors (every run)', '0', errors ? errors.max : Number.NaN, (v) => v === 0);

  const seed = results.seed?.checks.filter((c) => c.name === 'seed /stats exact') ?? [];
  targets.push({
    target: 'seed workload /stats exact (every run)',
    goal: 'exact',
    measured: seed.length ? `${seed.filter((c) => c.ok).length}/${seed.length} exact` : 'n/a',
    pass: seed.length ? seed.every((c) => c.ok) : null,
  });

  add(
    "retention: apply rate / today's layout",
    '>= 0.9x',
    median('retention', 'apply_ratio'),
    (v) => v >= 0.9,
    `${fmt(median('retention', 'apply_ratio'))}x`,
  );
  add(
    'retention: publish p99 during a partition drop / before',
    '<= 1.5x',
    median('retention', 'drop_ratio'),
    (v) => v <= 1.5,
    `${fmt(median('retention', 'drop_ratio'))}x (${fmt(median('retention', 'drop_p99_during'), 1)} / ${fmt(median('retention', 'drop_p99_base'), 1)} ms)`,
  );
  add(
    'retention: events storage dead tuples, peak second half of the soak',
    'flat (<= first half + 1,000)',
    median('soak', 'events_dead_last'),
    (v) => v <= median('soak', 'events_dead_first') + 1_000,
    fmt(median('soak', 'events_dead_last'), 0),
  );

  const window = results.soak?.data.window;
  add(
    `soak: processed last / first ${window === 60 ? 'minute' : 'window'}`,
    '>= 0.9x',
    median('soak', 'processed_ratio'),
    (v) => v >= 0.9,
    `${fmt(median('soak', 'processed_ratio'))}x`,
  );
  add('soak: RSS growth after the first window', '<= 1.2x', median('soak', 'rss_growth'), (v) => v <= 1.2, `${fmt(median('soak', 'rss_growth'))}x`);
  add('soak: RSS max per replica', '< 200 MB', median('soak', 'rss_max'), (v) => v < 200, `${fmt(median('soak', 'rss_max'), 1)} MB`);
  const deadFirst = median('soak', 'dead_first');
  const deadLast = median('soak', 'dead_last');
  // "Bounded" = not trending up: the second half's peak within 1.5x the first half's (plus
  // 10,000, about one second of churn at full load, so a tiny first peak does not fail it).
  add(
    'soak: inbox dead tuples bounded',
    'peak 2nd half <= 1.5 x 1st + 10k',
    deadLast,
    (v) => v <= 1.5 * deadFirst + 10_000,
    `${fmt(deadFirst, 0)} -> ${fmt(deadLast, 0)}`,
  );

  add('one hot topic: drain after the load', '<= 2 s', median('topics', 'drain_1'), (v) => v <= 2, `${fmt(median('topics', 'drain_1'))} s`);
  add(
    'one hot topic: end-to-end / 64 topics',
    '>= 0.9x',
    median('topics', 'hot_ratio'),
    (v) => v >= 0.9,
    `${fmt(median('topics', 'hot_ratio'))}x (${fmt(median('topics', 'e2e_1'), 0)} / ${fmt(median('topics', 'e2e_64'), 0)} ev/s)`,
  );
  add(
    '3 topics: end-to-end / direct raw-SQL ceiling',
    '>= 1.0x',
    median('topics', 'three_ratio'),
    (v) => v >= 1,
    `${fmt(median('topics', 'three_ratio'))}x (${fmt(median('topics', 'e2e_3'), 0)} / ${fmt(median('topics', 'direct'), 0)} ev/s)`,
  );

  add(
    'query: newest 1,000 lines |= over 1 h, p50',
    '<= 300 ms',
    median('query', 'logs_p50'),
    (v) => v <= 300,
    `${fmt(median('query', 'logs_p50'), 0)} ms`,
  );
  add(
    'query: newest 1,000 lines |= over 1 h, p99',
    '<= 1 s',
    median('query', 'logs_p99'),
    (v) => v <= 1000,
    `${fmt(median('query', 'logs_p99'), 0)} ms`,
  );
  add(
    'query: volume by level over 24 h, p50',
    '<= 300 ms',
    median('query', 'volume_p50'),
    (v) => v <= 300,
    `${fmt(median('query', 'volume_p50'), 0)} ms`,
  );
  add(
    'query: volume by level over 24 h, p99',
    '<= 1 s',
    median('query', 'volume_p99'),
    (v) => v <= 1000,
    `${fmt(median('query', 'volume_p99'), 0)} ms`,
  );
  add(
    'query: Grafana volume query over 24 h, p50',
    '<= 300 ms',
    median('query', 'grafana_p50'),
    (v) => v <= 300,
    `${fmt(median('query', 'grafana_p50'), 0)} ms`,
  );
  add(
    'query: Grafana volume query over 24 h, p99',
    '<= 1 s',
    median('query', 'grafana_p99'),
    (v) => v <= 1000,
    `${fmt(median('query', 'grafana_p99'), 0)} ms`,
  );
  add(
    'query: ingest with / without the volume fold',
    '>= 0.9x',
    median('query', 'ingest_ratio'),
    (v) => v >= 0.9,
    `${fmt(median('query', 'ingest_ratio'))}x`,
  );
  add('scale: publish p99, large / small', '<= 1.5x', median('scale', 'publish_ratio'), (v) => v <= 1.5, `${fmt(median('scale', 'publish_ratio'))}x`);
  add(
    'scale: GET /events random-offset p99, large / small',
    '<= 1.5x',
    median('scale', 'random_ratio'),
    (v) => v <= 1.5,
    `${fmt(median('scale', 'random_ratio'))}x`,
  );
  add(
    'scale: GET /events newest-page p99, large / small',
    '<= 1.5x',
    median('scale', 'tail_ratio'),
    (v) => v <= 1.5,
    `${fmt(median('scale', 'tail_ratio'))}x`,
  );
  for (const n of [1, 3]) {
    for (const read of ['events', 'subscribe']) {
      const p90 = median('latency', `${read}_p90_${n}`);
      add(
        `idle latency, 202 -> on ${read === 'events' ? 'GET /events' : '/subscribe'}, ${n} replica(s), p90`,
        '<= 100 ms',
        p90,
        (v) => v <= 100,
        `${fmt(p90, 0)} ms`,
      );
    }
  }
  add('idle aggregator CPU', '< 1% of a core', median('idle', 'cpu'), (v) => v < 1, `${fmt(median('idle', 'cpu'))}%`);
  // db/client.ts caps the reconnect delay at 1 s: every replica should be back within about that.
  add(
    'recovery after a PostgreSQL restart (all replicas)',
    '<= 2 s',
    median('recovery', 'recovery'),
    (v) => v <= 2_000,
    `${fmt(median('recovery', 'recovery'), 0)} ms`,
  );
  return targets;
}
