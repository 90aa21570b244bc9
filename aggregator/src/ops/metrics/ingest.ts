/** What this replica acknowledged: counted in memory on the publish path, no query per request. */
import { Counter, Histogram, type Registry } from 'prom-client';
import { BATCH_BUCKETS } from './buckets';
import { TopicLabels } from './topic-labels';

/** Topics that get their own label on per-topic series; the rest share `_other`. */
export const TOPIC_LABEL_CAP = 100;

export class IngestMetrics {
  private readonly eventsPerRequest: Histogram;
  private readonly accepted: Counter;
  private readonly acceptedByTopic: Counter;
  private readonly topicLabels: TopicLabels;

  constructor(registry: Registry, topicLabelCap = TOPIC_LABEL_CAP) {
    this.topicLabels = new TopicLabels(topicLabelCap);
    this.eventsPerRequest = new Histogram({
      name: 'logbus_publish_events_per_request',
      help: 'Events in each publish request this replica acknowledged with 202.',
      buckets: BATCH_BUCKETS,
      registers: [registry],
    });
    this.accepted = new Counter({
      name: 'logbus_replica_events_accepted_total',
      help: 'Events this replica acknowledged with 202 (duplicates included).',
      registers: [registry],
    });
    this.acceptedByTopic = new Counter({
      name: 'logbus_replica_topic_events_accepted_total',
      help: `Events this replica acknowledged, by topic; the first ${TOPIC_LABEL_CAP} topics seen get a label, the rest count as "_other".`,
      labelNames: ['topic'],
      registers: [registry],
    });
  }

  /** Records a publish request acknowledged with 202, by its events' topics. */
  readonly observeAccepted = (topics: readonly string[]): void => {
    this.eventsPerRequest.observe(topics.length);
    this.accepted.inc(topics.length);
    // Batches usually carry few topics: count runs of one topic, then one inc per run.
    let run = 0;
    for (let i = 0; i < topics.length; i++) {
      run++;
      const topic = topics[i]!;
      if (i + 1 === topics.length || topics[i + 1] !== topic) {
        this.acceptedByTopic.inc({ topic: this.topicLabels.label(topic) }, run);
        run = 0;
      }
    }
  };
}
