/**
 * The OTLP logs messages (logs.proto beside this file) loaded once with protobufjs, and the
 * decoded shapes. protobufjs' messages use the same lowerCamelCase field names as the OTLP JSON
 * encoding, so one mapping reads both encodings; they differ in how bytes (hex or base64 text vs
 * Uint8Array) and 64-bit integers (text or number vs Long) arrive, and in that a decoded
 * message's unset fields read as defaults from its prototype (map.ts tests own properties).
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

const root = protobuf.parse(readFileSync(new URL('./logs.proto', import.meta.url), 'utf8'), { keepCase: false }).root;
const PACKAGE = 'opentelemetry.proto.collector.logs.v1';

export const ExportLogsServiceRequest = root.lookupType(`${PACKAGE}.ExportLogsServiceRequest`);
export const ExportLogsServiceResponse = root.lookupType(`${PACKAGE}.ExportLogsServiceResponse`);
export const Status = root.lookupType(`${PACKAGE}.Status`);

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string | Uint8Array;
}

export interface OtlpKeyValue {
  key?: string;
  value?: OtlpAnyValue;
}

export interface OtlpLogRecord {
  timeUnixNano?: string | number;
  observedTimeUnixNano?: string | number;
  severityNumber?: number | string;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
  traceId?: string | Uint8Array;
  spanId?: string | Uint8Array;
  eventName?: string;
}

export interface OtlpScopeLogs {
  scope?: { name?: string; version?: string; attributes?: OtlpKeyValue[] };
  logRecords?: OtlpLogRecord[];
}

export interface OtlpResourceLogs {
  resource?: { attributes?: OtlpKeyValue[] };
  scopeLogs?: OtlpScopeLogs[];
}

export interface OtlpRequest {
  resourceLogs?: OtlpResourceLogs[];
}
