/**
 * Loki entries -> our events. `lokiEntryToEvent` is the one place the mapping lives (docs/SHIPPERS.md table
 * "Loki push"). Loki's own rule is that an entry with the same timestamp and line as one already
 * in the same stream is a duplicate; the event_id hashes exactly that identity, so a re-sent push
 * is stored once and two genuinely identical lines at the same nanosecond in one stream are one
 * event, as they would be one entry in Loki.
 */
import { nanosToTimestamp, recordId, topicFromName } from '../record-mapping';
import type { LokiEntry, LokiStream } from './decode';
import { canonicalLabels } from './labels';

export interface LokiMappingOptions {
  topicOverride: string | null;
  /** Labels tried in order for the topic (LOKI_TOPIC_LABELS). */
  topicLabels: readonly string[];
  defaultTopic: string;
}

/** Labels tried in order for `source`: where the line was written. */
const SOURCE_LABELS = ['host', 'hostname', 'instance', 'pod', 'container'];

/** What a stream contributes to each of its entries, computed once per stream. */
export interface LokiStreamContext {
  topic: string;
  source: string;
  identity: string;
  labels: Record<string, string>;
}

export function streamContext(stream: LokiStream, options: LokiMappingOptions): LokiStreamContext {
  const fromLabel = options.topicLabels.map((name) => topicFromName(stream.labels[name])).find((topic) => topic !== null);
  const source = SOURCE_LABELS.map((name) => stream.labels[name]).find((value) => value !== undefined && value !== '');
  return {
    topic: options.topicOverride ?? fromLabel ?? options.defaultTopic,
    source: (source ?? 'loki').slice(0, 256),
    identity: canonicalLabels(stream.labels),
    labels: stream.labels,
  };
}

/** One Loki entry as a candidate event (validated afterwards like any /publish event). */
export function lokiEntryToEvent(entry: LokiEntry, stream: LokiStreamContext): Record<string, unknown> {
  const payload: Record<string, unknown> = { line: entry.line, labels: stream.labels, time_unix_nano: entry.nanos };
  if (entry.metadata) payload.structured_metadata = entry.metadata;
  return {
    topic: stream.topic,
    event_id: recordId('loki', stream.identity, entry.nanos, entry.line),
    timestamp: nanosToTimestamp(entry.nanos) ?? undefined,
    source: stream.source,
    payload,
  };
}

/** Every entry of the push, in order, as candidate events. */
export function lokiToEvents(streams: readonly LokiStream[], options: LokiMappingOptions): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const stream of streams) {
    const context = streamContext(stream, options);
    for (const entry of stream.entries) events.push(lokiEntryToEvent(entry, context));
  }
  return events;
}
