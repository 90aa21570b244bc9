/**
 * Round trips through the query API for the shippers' own clients: records exported with the
 * OpenTelemetry JS SDK's OTLP/HTTP exporter and documents sent with the official Elasticsearch
 * client's bulk helper come back from /loki/api/v1/query_range with the stream labels, the line
 * and the timestamp docs/QUERY.md says ("How an event becomes a stream").
 */
import { describe, expect, test } from 'bun:test';
import { Client, HttpConnection } from '@elastic/elasticsearch';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { servedAggregator, storedEvents } from '../support/shipper';

const served = servedAggregator();

interface Streams {
  status: string;
  data: { resultType: string; result: { stream: Record<string, string>; values: [string, string][] }[] };
}

/** Every stream of `query` between two Unix seconds, oldest first. */
async function queryRange(query: string, fromSeconds: number, toSeconds: number): Promise<Streams> {
  const params = new URLSearchParams({ query, start: `${fromSeconds}000000000`, end: `${toSeconds}000000000`, direction: 'forward', limit: '100' });
  const response = await fetch(`${served.server.url}/loki/api/v1/query_range?${params}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Streams;
}

// 2025-01-31T12:00:00Z
const T0 = 1738324800;

describe('read back through the query API', () => {
  test('OTLP exporter: resource attributes become labels, severity the level, the body the line, the time to the microsecond', async () => {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'otlp-readback', 'host.name': 'web-3', 'deployment.environment': 'prod' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${served.server.url}/v1/logs` }) })],
    });
    const logger = provider.getLogger('readback-scope');
    // [seconds, nanoseconds] as the SDK's HrTime: the exporter sends nanoseconds; an OTLP entry
    // reads with the stored timestamp, microseconds (docs/QUERY.md), so 123,456,789 ns reads
    // as 123,457 µs.
    logger.emit({ body: 'payment declined', severityNumber: SeverityNumber.ERROR, severityText: 'ERROR', timestamp: [T0 + 1, 123_456_789] });
    logger.emit({ body: 'payment retried', severityNumber: SeverityNumber.INFO, timestamp: [T0 + 2, 5] });
    await provider.forceFlush();
    await provider.shutdown();
    // Positive control: both records are stored before they are read back.
    expect(await storedEvents(served.agg, 'otlp-readback')).toHaveLength(2);

    const body = await queryRange('{topic="otlp-readback"}', T0, T0 + 10);
    expect(body.status).toBe('success');
    expect(body.data.resultType).toBe('streams');
    const common = {
      topic: 'otlp-readback',
      source: 'web-3',
      service_name: 'otlp-readback',
      host_name: 'web-3',
      deployment_environment: 'prod',
    };
    const byLine = new Map(body.data.result.flatMap((s) => s.values.map(([ns, line]) => [line, { ns, stream: s.stream }])));
    expect(byLine.get('payment declined')).toEqual({
      ns: `${T0 + 1}123457000`,
      stream: expect.objectContaining({ ...common, level: 'ERROR', detected_level: 'error' }),
    });
    expect(byLine.get('payment retried')).toEqual({
      ns: `${T0 + 2}000000000`,
      stream: expect.objectContaining({ ...common, detected_level: 'info' }),
    });
    // The selector narrows on a resource label and on the derived level.
    const errors = await queryRange('{service_name="otlp-readback", detected_level="error"}', T0, T0 + 10);
    expect(errors.data.result.flatMap((s) => s.values.map((v) => v[1]))).toEqual(['payment declined']);
  });

  test('Elasticsearch bulk helper: the index is the topic, message the line, log.level the level, @timestamp to the microsecond', async () => {
    // The client's default undici connection does not run under Bun (ingest-elastic.test.ts).
    const client = new Client({ node: served.server.url, Connection: HttpConnection });
    const result = await client.helpers.bulk({
      datasource: [
        { '@timestamp': '2025-01-31T12:00:03.250001Z', message: 'disk almost full', log: { level: 'WARN' }, host: { name: 'node-9' } },
        { '@timestamp': '2025-01-31T12:00:04Z', message: 'disk cleaned', host: { name: 'node-9' } },
      ],
      onDocument: () => ({ index: { _index: 'es-readback' } }),
    });
    await client.close();
    expect(result.successful).toBe(2);
    expect(await storedEvents(served.agg, 'es-readback')).toHaveLength(2);

    const body = await queryRange('{topic="es-readback"}', T0, T0 + 10);
    const values = body.data.result.flatMap((s) => s.values.map(([ns, line]) => ({ ns, line, stream: s.stream })));
    expect(values).toEqual([
      {
        ns: `${T0 + 3}250001000`,
        line: 'disk almost full',
        stream: { topic: 'es-readback', source: 'node-9', level: 'WARN', detected_level: 'warn' },
      },
      { ns: `${T0 + 4}000000000`, line: 'disk cleaned', stream: { topic: 'es-readback', source: 'node-9' } },
    ]);
  });
});
