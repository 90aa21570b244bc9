/**
 * What the inbox stores per event: a validated Event plus, when the event came from JSON text,
 * that text of its payload. The text is what gets stored and returned, so a payload keeps its
 * digits and key order (ingest/payload-text.ts). Routes that build events from JavaScript
 * values (other ingest formats) pass plain Events: their payload is serialised here, once.
 */
import type { Event } from '../api/contract';

export type InboxEvent = Event & {
  /** The payload's JSON text as received; absent for events built from values. */
  payloadJson?: string;
};

/** The JSON text stored for an event's payload. */
export function payloadJsonOf(event: InboxEvent): string {
  return event.payloadJson ?? JSON.stringify(event.payload);
}

/** Attaches each payload's received text to its validated event (same order, same length). */
export function withPayloadTexts(events: Event[], texts: readonly (string | undefined)[]): InboxEvent[] {
  for (let i = 0; i < events.length; i++) {
    const text = texts[i];
    if (text !== undefined) (events[i] as InboxEvent).payloadJson = text;
  }
  return events;
}
