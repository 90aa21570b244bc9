/**
 * Where an event goes, fixed forever: every replica must agree, so these are fixed functions
 * (32-bit FNV-1a over UTF-8 bytes) and the partition count is fixed by the migration that seeds
 * the inbox leases.
 *
 * - partitionOf(topic, event_id): the inbox partition. By the key, not by the topic: every copy
 *   of a key lands in one partition (applied by one transaction at a time, so the first
 *   acknowledged copy wins and the dedup probe cannot race), while one busy topic spreads over
 *   all partitions and is applied by as many workers as there are (docs/ARCHITECTURE.md).
 *   Migration 0008 holds the same function in SQL (inbox_partition_of) to move rows routed by
 *   the previous rule; a test keeps the two equal.
 * - topicSlotOf(topic): one of TOPIC_SLOTS groups of topics, named by wake-up hints
 *   (subscribe/notifier.ts) so a replica wakes only subscriptions that may have news.
 */
import { PARTITION_COUNT } from './schema';

/** Topic groups named by subscriber wake-ups: at most this many numbers in one NOTIFY. */
export const TOPIC_SLOTS = 32;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a step over the UTF-8 encoding of `text`, without allocating it. */
function hashUtf8(hash: number, text: string): number {
  const step = (byte: number) => {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME);
  };
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      step(code);
      continue;
    }
    if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    // Lone surrogates never get here: validation rejects them (PostgreSQL cannot store them).
    if (code < 0x800) {
      step(0xc0 | (code >> 6));
    } else if (code < 0x10000) {
      step(0xe0 | (code >> 12));
      step(0x80 | ((code >> 6) & 0x3f));
    } else {
      step(0xf0 | (code >> 18));
      step(0x80 | ((code >> 12) & 0x3f));
      step(0x80 | ((code >> 6) & 0x3f));
    }
    step(0x80 | (code & 0x3f));
  }
  return hash;
}

/** The inbox partition of the key (topic, event_id): FNV-1a of topic, a zero byte, event_id. */
export function partitionOf(topic: string, eventId: string): number {
  let hash = hashUtf8(FNV_OFFSET, topic);
  hash = Math.imul(hash, FNV_PRIME); // the zero byte between them: hash ^= 0, then multiply
  hash = hashUtf8(hash, eventId);
  return (hash >>> 0) % PARTITION_COUNT;
}

/** The wake-up group of a topic. */
export function topicSlotOf(topic: string): number {
  return (hashUtf8(FNV_OFFSET, topic) >>> 0) % TOPIC_SLOTS;
}
