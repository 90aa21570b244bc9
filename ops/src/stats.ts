/** The /stats contract: received == unique_processed + duplicate_dropped + pending. */

import type { Stats } from '../../aggregator/src/api/contract.ts';

export type { Stats };

/** Problems with a /stats body; empty when it is well-formed and consistent. */
export function statsProblems(body: unknown): string[] {
  const s = body as Partial<Stats> | null;
  const keys = ['received', 'unique_processed', 'duplicate_dropped', 'pending'] as const;
  const bad = keys.filter((k) => !Number.isInteger(s?.[k]) || (s![k] as number) < 0);
  if (bad.length) return [`/stats lacks non-negative integers for ${bad.join(', ')}`];
  const sum = s!.unique_processed! + s!.duplicate_dropped! + s!.pending!;
  if (s!.received !== sum) {
    return [
      `received ${s!.received} != unique_processed ${s!.unique_processed} + duplicate_dropped ${s!.duplicate_dropped} + pending ${s!.pending} (= ${sum})`,
    ];
  }
  return [];
}

/** One line for humans. */
export function formatStats(s: Stats): string {
  return `received ${s.received} = unique ${s.unique_processed} + duplicates ${s.duplicate_dropped} + pending ${s.pending}`;
}
