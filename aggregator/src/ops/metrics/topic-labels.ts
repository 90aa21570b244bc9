/**
 * Bounded label cardinality for per-topic series. Topics are client-chosen strings, and every
 * distinct label value is a time series Prometheus keeps: the first `cap` topics this process
 * sees get their own label, every later one is counted under OTHER_TOPIC, which no real topic
 * can be (topics start with a letter or digit).
 */
export const OTHER_TOPIC = '_other';

export class TopicLabels {
  private readonly known = new Set<string>();

  constructor(readonly cap: number) {}

  /** The label value for `topic`. */
  label(topic: string): string {
    if (this.known.has(topic)) return topic;
    if (this.known.size < this.cap) {
      this.known.add(topic);
      return topic;
    }
    return OTHER_TOPIC;
  }
}
