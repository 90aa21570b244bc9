/**
 * The bench's batches re-encoded for each shipper protocol, so every route carries the same
 * events (topic, id, time, source, payload) and the same duplicates. Encoded with the same
 * libraries the aggregator decodes with (protobufjs over its .proto files, snappyjs).
 */
import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { ExportLogsServiceRequest } from '../../aggregator/src/ingest/otlp/schema';
import type { Columns } from './generate';

const PushRequest = new protobuf.Root()
  .loadSync(new URL('../../aggregator/src/ingest/loki/push.proto', import.meta.url).pathname)
  .lookupType('logproto.PushRequest');

export type Protocol = 'publish' | 'otlp-proto' | 'otlp-json' | 'loki-proto' | 'loki-json' | 'bulk';
export const PROTOCOLS: readonly Protocol[] = ['publish', 'otlp-proto', 'otlp-json', 'loki-proto', 'loki-json', 'bulk'];

export interface ProtocolRequest {
  path: string;
  contentType: string;
  /** The 2xx status the route answers with. */
  ok: number;
  body: (batch: Columns, publishBody: string) => string | Uint8Array;
}

const nanos = (timestamp: string) => `${BigInt(Date.parse(timestamp)) * 1_000_000n}`;

/** Indexes of a batch's events grouped by topic (shippers batch per resource / stream). */
function byTopic(batch: Columns): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  batch.topic.forEach((topic, i) => {
    groups.set(topic, [...(groups.get(topic) ?? []), i]);
  });
  return groups;
}

/** OTLP: one resource per topic (service.name); log.record.uid carries the event id. */
function otlpRequest(batch: Columns) {
  return {
    resourceLogs: [...byTopic(batch)].map(([topic, rows]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: topic } }] },
      scopeLogs: [
        {
          logRecords: rows.map((i) => ({
            timeUnixNano: nanos(batch.timestamp[i]!),
            body: { stringValue: batch.payload[i]! },
            attributes: [
              { key: 'log.record.uid', value: { stringValue: batch.event_id[i]! } },
              { key: 'source', value: { stringValue: batch.source[i]! } },
            ],
          })),
        },
      ],
    })),
  };
}

/** Loki: one stream per topic; the line holds the id, so distinct events stay distinct entries. */
function lokiStreams(batch: Columns) {
  return [...byTopic(batch)].map(([topic, rows]) => ({ topic, rows, line: (i: number) => `${batch.event_id[i]} ${batch.payload[i]}` }));
}

export const REQUESTS: Record<Protocol, ProtocolRequest> = {
  publish: { path: '/publish', contentType: 'application/json', ok: 202, body: (_batch, publishBody) => publishBody },
  'otlp-proto': {
    path: '/v1/logs',
    contentType: 'application/x-protobuf',
    ok: 200,
    body: (batch) => ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(otlpRequest(batch))).finish(),
  },
  'otlp-json': { path: '/v1/logs', contentType: 'application/json', ok: 200, body: (batch) => JSON.stringify(otlpRequest(batch)) },
  'loki-proto': {
    path: '/loki/api/v1/push',
    contentType: 'application/x-protobuf',
    ok: 204,
    body: (batch) => {
      const streams = lokiStreams(batch).map(({ topic, rows, line }) => ({
        labels: `{service_name="${topic}"}`,
        entries: rows.map((i) => {
          const ms = Date.parse(batch.timestamp[i]!);
          return { timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 }, line: line(i) };
        }),
      }));
      return snappy.compress(PushRequest.encode(PushRequest.fromObject({ streams })).finish());
    },
  },
  'loki-json': {
    path: '/loki/api/v1/push',
    contentType: 'application/json',
    ok: 204,
    body: (batch) =>
      JSON.stringify({
        streams: lokiStreams(batch).map(({ topic, rows, line }) => ({
          stream: { service_name: topic },
          values: rows.map((i) => [nanos(batch.timestamp[i]!), line(i)]),
        })),
      }),
  },
  bulk: {
    path: '/_bulk',
    contentType: 'application/x-ndjson',
    ok: 200,
    body: (batch) =>
      batch.topic
        .map((topic, i) => {
          const doc = `{"@timestamp":"${batch.timestamp[i]}","host":"${batch.source[i]}",${batch.payload[i]!.slice(1)}`;
          return `{"create":{"_index":"${topic}","_id":"${batch.event_id[i]}"}}\n${doc}\n`;
        })
        .join(''),
  },
};
