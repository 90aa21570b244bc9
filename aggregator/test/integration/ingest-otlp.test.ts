/**
 * POST /v1/logs with the OpenTelemetry JS logs SDK and both of its OTLP/HTTP exporters (JSON and
 * protobuf), against a real database: the mapping, exact dedup of a re-sent batch, partial
 * success, the protocol's errors, gzip.
 */
import { describe, expect, test } from 'bun:test';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as HttpJsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { ExportLogsServiceRequest, Status } from '../../src/ingest/otlp/schema';
import { servedAggregator, storedEvents } from '../support/shipper';

const served = servedAggregator({ MAX_BODY_BYTES: '262144' });

/** Log records made by the real SDK (captured in memory, so the same batch can be exported twice). */
async function makeRecords(service: string, count: number, extra: Record<string, string> = {}): Promise<ReadableLogRecord[]> {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'web-1' }),
    processors: [new SimpleLogRecordProcessor({ exporter: memory })],
  });
  const logger = provider.getLogger('checkout-scope', '1.2.3');
  for (let i = 0; i < count; i++) {
    logger.emit({
      body: `order ${i} placed`,
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      timestamp: new Date(Date.UTC(2025, 0, 31, 12, 0, i)),
      attributes: { 'order.id': i, ...extra, ...(i === 0 ? { 'log.record.uid': `${service}-uid-0` } : {}) },
    });
  }
  await provider.forceFlush();
  const records = memory.getFinishedLogRecords();
  if (records.length !== count) throw new Error(`the SDK produced ${records.length} of ${count} records`);
  return records;
}

type Exporter = HttpJsonExporter | HttpProtoExporter;
/** The exporters' CompressionAlgorithm enum ('none' | 'gzip'), without importing its package. */
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof HttpJsonExporter>[0]>['compression']>;

function exportOnce(exporter: Exporter, records: ReadableLogRecord[]): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(records, (result) => (result.code === ExportResultCode.SUCCESS ? resolve() : reject(result.error ?? new Error('export failed')))),
  );
}

const exporters: [string, (compression: Compression) => Exporter][] = [
  ['exporter-logs-otlp-http (JSON)', (compression) => new HttpJsonExporter({ url: `${served.server.url}/v1/logs`, compression })],
  ['exporter-logs-otlp-proto (protobuf)', (compression) => new HttpProtoExporter({ url: `${served.server.url}/v1/logs`, compression })],
];

describe.each(exporters)('%s', (name, makeExporter) => {
  const service = `otlp-${name.includes('proto') ? 'proto' : 'json'}`;

  test('records arrive with the mapping: topic service.name, event_id log.record.uid or a hash, nanosecond timestamp, payload', async () => {
    const exporter = makeExporter('none' as Compression);
    await exportOnce(exporter, await makeRecords(service, 3));
    const events = await storedEvents(served.agg, service);
    expect(events).toHaveLength(3);
    const [first, second] = events;
    expect(first!.event_id).toBe(`${service}-uid-0`);
    expect(second!.event_id).toMatch(/^[0-9a-f]{32}$/);
    expect(first!.source).toBe('web-1');
    expect(first!.timestamp).toBe('2025-01-31T12:00:00.000000Z');
    expect(second!.payload).toMatchObject({
      body: 'order 1 placed',
      severity_text: 'WARN',
      severity_number: SeverityNumber.WARN,
      attributes: { 'order.id': 1 },
      time_unix_nano: '1738324801000000000',
      resource: { 'service.name': service, 'host.name': 'web-1' },
      scope: { name: 'checkout-scope', version: '1.2.3' },
    });
    await exporter.shutdown();
  });

  test('the same batch exported twice is stored once and counted as duplicates', async () => {
    const exporter = makeExporter('none' as Compression);
    const records = await makeRecords(`${service}-dup`, 5);
    const before = await served.agg.drained();
    await exportOnce(exporter, records);
    await exportOnce(exporter, records);
    const after = await served.agg.drained();
    expect(after.received - before.received).toBe(10);
    expect(after.unique_processed - before.unique_processed).toBe(5);
    expect(after.duplicate_dropped - before.duplicate_dropped).toBe(5);
    expect(await storedEvents(served.agg, `${service}-dup`)).toHaveLength(5);
    await exporter.shutdown();
  });

  test('gzip-compressed exports are decoded', async () => {
    const exporter = makeExporter('gzip' as Compression);
    await exportOnce(exporter, await makeRecords(`${service}-gzip`, 4));
    expect(await storedEvents(served.agg, `${service}-gzip`)).toHaveLength(4);
    await exporter.shutdown();
  });
});

describe('errors in the protocol', () => {
  async function expectNothingStored(send: () => Promise<Response>) {
    const before = await served.agg.drained();
    const response = await send();
    expect((await served.agg.drained()).received).toBe(before.received);
    return response;
  }

  test('a malformed protobuf body is a 400 with a protobuf google.rpc.Status and stores nothing', async () => {
    const response = await expectNothingStored(() =>
      fetch(`${served.server.url}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: new Uint8Array([0x0a, 0xff, 0xff, 0x01]),
      }),
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    const status = Status.toObject(Status.decode(new Uint8Array(await response.arrayBuffer()))) as { code: number; message: string };
    expect(status.code).toBe(3);
    expect(status.message).toContain('malformed OTLP protobuf');
  });

  test('malformed JSON is a 400 with a JSON Status; an unknown content type is a 415', async () => {
    const bad = await expectNothingStored(() =>
      fetch(`${served.server.url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceLogs": [' }),
    );
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 3, message: expect.stringContaining('malformed OTLP JSON') });
    const unsupported = await expectNothingStored(() =>
      fetch(`${served.server.url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }),
    );
    expect(unsupported.status).toBe(415);
  });

  test('invalid records are rejected through partial_success and the valid ones are stored', async () => {
    const body = {
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'otlp-partial' } }] },
          scopeLogs: [
            {
              logRecords: [
                { timeUnixNano: '1738324800000000000', body: { stringValue: 'fine' } },
                { timeUnixNano: '1738324800000001000', body: { stringValue: 'nul \u0000 inside' } },
                { timeUnixNano: '1738324800000002000', body: { stringValue: 'fine too' }, traceId: '5B8EFFF798038103D269B633813FC60C' },
              ],
            },
          ],
        },
      ],
    };
    const response = await fetch(`${served.server.url}/v1/logs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { partialSuccess: { rejectedLogRecords: string; errorMessage: string } };
    expect(Number(answer.partialSuccess.rejectedLogRecords)).toBe(1);
    expect(answer.partialSuccess.errorMessage).toContain('U+0000');
    const events = await storedEvents(served.agg, 'otlp-partial');
    expect(events.map((e) => e.payload.body)).toEqual(['fine', 'fine too']);
    expect(events[1]!.payload.trace_id).toBe('5b8efff798038103d269b633813fc60c');
    expect(events[1]!.timestamp).toBe('2025-01-31T12:00:00.000002Z');
  });

  test('a protobuf success answer is an ExportLogsServiceResponse; ?topic= overrides service.name', async () => {
    const request = ExportLogsServiceRequest.encode(
      ExportLogsServiceRequest.fromObject({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'ignored' } }] },
            scopeLogs: [{ logRecords: [{ timeUnixNano: '1', body: { intValue: '9007199254740993' } }] }],
          },
        ],
      }),
    ).finish();
    const response = await fetch(`${served.server.url}/v1/logs?topic=otlp-override`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: Buffer.from(request),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    expect((await response.arrayBuffer()).byteLength).toBe(0); // no partial_success: the empty message
    const [event] = await storedEvents(served.agg, 'otlp-override');
    expect(event!.payload.body).toBe('9007199254740993'); // past 2^53: kept as exact decimal text
    expect(event!.timestamp).toBe('1970-01-01T00:00:00.000000Z'); // 1 ns: PostgreSQL keeps microseconds, the payload the rest
  });
});
