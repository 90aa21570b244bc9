/** What this replica's readers see: how far the read horizon (events/horizon.ts) holds them back. */
import { Gauge, type Registry } from 'prom-client';

export interface HorizonLag {
  seconds: number;
  events: number;
}

/** Registers the two horizon-lag gauges; one fresh horizon tick per scrape, shared by both. */
export function registerReadMetrics(registry: Registry, lag: () => Promise<HorizonLag>): void {
  let reading: Promise<HorizonLag> | null = null;
  const read = () => {
    reading ??= lag().finally(() => queueMicrotask(() => (reading = null)));
    return reading;
  };
  const gauges: [string, string, keyof HorizonLag][] = [
    [
      'logbus_read_horizon_lag_seconds',
      'How long readers of this replica have been held back: seconds since the oldest drawn seq not yet known final was read (0: none). Seq-drawing transactions still running hold it; a backlog shows in logbus_inbox_oldest_pending_age_seconds.',
      'seconds',
    ],
    [
      'logbus_read_horizon_lag_events',
      'Events behind the newest applied seq: applied (stored) events that readers of this replica cannot see yet, because the read horizon is still below them. Events still waiting in the inbox are not counted (logbus_pending_events).',
      'events',
    ],
  ];
  for (const [name, help, field] of gauges) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(
          await read()
            .then((l) => l[field])
            .catch(() => 0),
        );
      },
    });
  }
}
