/**
 * Topic -> inbox partition. Every replica must agree forever, so this is a fixed function
 * (32-bit FNV-1a over the topic's UTF-8 bytes; topics are ASCII by their pattern) and the
 * partition count is fixed by the migration that seeds inbox_partitions.
 */
import { PARTITION_COUNT } from './schema';

export function partitionOf(topic: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    hash ^= topic.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % PARTITION_COUNT;
}
