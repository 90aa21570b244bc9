/**
 * Prometheus metrics in the text exposition format (0.0.4), without a client library: counters
 * and gauges with labels, and one histogram. Served on /metrics next to /healthz and /readyz.
 */

type Labels = Record<string, string>;
const fmt = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

class Family {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}
  private cell(labels: Labels) {
    const key = fmt(labels);
    let c = this.values.get(key);
    if (!c) this.values.set(key, (c = { labels, value: 0 }));
    return c;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }
  set(labels: Labels, value: number): void {
    this.cell(labels).value = value;
  }
  get(labels: Labels = {}): number {
    return this.values.get(fmt(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${fmt(labels)} ${value}`);
    return lines.join('\n');
  }
}

/** Reconcile durations in seconds, per controller. */
class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  ) {}
  observe(labels: Labels, seconds: number): void {
    const key = fmt(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => {
      if (seconds <= b) s.counts[i] = (s.counts[i] ?? 0) + 1;
    });
    s.sum += seconds;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${fmt(s.labels)} ${s.sum}`, `${this.name}_count${fmt(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** The operator's metrics (names follow controller-runtime's, so its dashboards apply). */
export class OperatorMetrics {
  readonly reconciles = new Family(
    'logbus_operator_reconcile_total',
    'Reconciles by controller and result (success, requeue, conflict: a 409 redone, error).',
    'counter',
  );
  readonly errors = new Family('logbus_operator_reconcile_errors_total', 'Reconciles that failed, by controller.', 'counter');
  readonly depth = new Family('logbus_operator_workqueue_depth', 'Keys waiting in the work queue.', 'gauge');
  readonly adds = new Family('logbus_operator_workqueue_adds_total', 'Keys added to the work queue.', 'counter');
  readonly leader = new Family('logbus_operator_leader', '1 while this replica holds the leader Lease.', 'gauge');
  readonly watchRestarts = new Family(
    'logbus_operator_watch_restarts_total',
    'Watches restarted, by resource and reason (expired: 410 Gone, relisted; error: retried with backoff).',
    'counter',
  );
  readonly durations = new Histogram('logbus_operator_reconcile_duration_seconds', 'Time spent in one reconcile, by controller.');

  render(): string {
    return `${[this.reconciles, this.errors, this.depth, this.adds, this.leader, this.watchRestarts, this.durations].map((m) => m.render()).join('\n')}\n`;
  }
}
