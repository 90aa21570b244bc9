/**
 * What the inbox stores per event: a validated Event plus, when the event came from JSON text,
 * that text of its payload. The text is what gets stored and returned, so a payload keeps its
 * digits and key order (ingest/payload-text.ts). Candidates built from JavaScript values (the
 * OTLP and Loki mappings) carry no text: their payload is serialised here, once.
 */
import type { Event } from '../api/contract';

/**
 * A decoded event before validation, with its payload's text as received when it came from JSON
 * text. The text travels inside the candidate, through validation and sorting, so it cannot be
 * attached to another event.
 */
export interface Candidate {
  value: unknown;
  payloadText?: string | undefined;
}

export type InboxEvent = Event & {
  /** The payload's JSON text as received; absent for events built from values. */
  payloadJson?: string;
};

/** The JSON text stored for an event's payload. */
export function payloadJsonOf(event: InboxEvent): string {
  return event.payloadJson ?? JSON.stringify(event.payload);
}
