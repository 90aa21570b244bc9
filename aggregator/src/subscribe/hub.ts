/**
 * This replica's subscriptions, by topic slot and topic. Wake-ups (a local commit, a NOTIFY from
 * another replica) name topic slots (db/partition.ts) and reach the subscriptions of topics in them; each
 * then reads the database itself. One
 * timer, running only while someone is subscribed, ends slow subscribers and, every few seconds,
 * wakes subscriptions that are behind their topic's head in case a NOTIFY was lost.
 */
import type { Sql } from '../db/client';
import { isUnavailable } from '../errors';
import { topicSlotOf } from '../db/partition';
import type { Logger } from '../log';
import { ReadGate, SubscriberCaps } from './limit';
import type { ReadBudget } from '../events/read-budget';
import type { ReadHorizon } from '../events/horizon';
import { type Expiry, readExpiry } from '../events/read';
import { readEvents, readHead, readHeads } from './read';
import { type EndReason, type StreamOptions, Subscription } from './stream';

export interface HubOptions extends StreamOptions {
  /** How often subscriptions are compared with their topic's head (lost NOTIFY safety net). */
  sweepMs: number;
}

/** Defaults, one row per knob. */
export const SUBSCRIBE_DEFAULTS: HubOptions = {
  // Events per read and per chunk: bounds a subscription's memory to one page.
  pageSize: 256,
  // And bytes per read: 256 events of 4 MiB would be 1 GiB in one subscription.
  readBytes: 1024 * 1024,
  // Well below common proxy idle timeouts (60 s), so an idle stream through a proxy stays open;
  // Bun's own 10 s idle timer is switched off for streams (routes.ts), so it does not bound this.
  heartbeatMs: 15_000,
  // Kernel socket buffers (a few MiB) absorb short stalls before this clock even starts.
  slowMs: 5_000,
  retryMs: 1_000,
  // A NOTIFY is lost only when its sender dies between commit and notify; 5 s bounds that rare delay.
  sweepMs: 5_000,
};

const TICK_MS = 1_000;

/** Bounds (config.ts SUBSCRIBE_*); see limit.ts. */
export interface HubLimits {
  maxTotal: number;
  maxPerKey: number;
  readConcurrency: number;
}

export const HUB_LIMIT_DEFAULTS: HubLimits = { maxTotal: 1000, maxPerKey: 100, readConcurrency: 2 };

/** What a hub is made of; the budget and the horizon are the replica's, shared with GET /events. */
export interface HubDeps {
  sql: Sql;
  log: Logger;
  /** The replica's bound on bytes held by reads at once. */
  budget: ReadBudget;
  /** What every read of this replica sees up to (aggregator.ts owns it and closes it). */
  horizon: ReadHorizon;
  options?: HubOptions;
  limits?: HubLimits;
}

export class SubscriptionHub {
  private readonly byTopic = new Map<string, Set<Subscription>>();
  private readonly topicsBySlot = new Map<number, Set<string>>();
  /** Per subscription waiting for the horizon to pass its next event: how to stop waiting. */
  private readonly holds = new Map<Subscription, () => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Others woken with the subscriptions (the query API's live tails, query/tail.ts). */
  private readonly wakeListeners = new Set<(slots: readonly number[] | null) => void>();
  private ticks = 0;
  private confirming = false;
  private closed = false;

  /** Concurrent streams per replica and per token. */
  readonly caps: SubscriberCaps;
  /** Every subscriber read of the database goes through it (the route's first read too). */
  readonly gate: ReadGate;

  private readonly sql: Sql;
  private readonly log: Logger;
  private readonly options: HubOptions;
  private readonly budget: ReadBudget;
  private readonly horizon: ReadHorizon;

  constructor({ sql, log, budget, horizon, options = SUBSCRIBE_DEFAULTS, limits = HUB_LIMIT_DEFAULTS }: HubDeps) {
    this.sql = sql;
    this.log = log;
    this.options = options;
    this.budget = budget;
    this.horizon = horizon;
    this.caps = new SubscriberCaps(limits.maxTotal, limits.maxPerKey);
    this.gate = new ReadGate(limits.readConcurrency);
  }

  /** Live subscriptions on this replica. */
  get size(): number {
    let size = 0;
    for (const subscriptions of this.byTopic.values()) size += subscriptions.size;
    return size;
  }

  /**
   * A new subscription to `topic` starting after seq `after`. `onEnd` hears how it ended; the
   * route uses it to let the server drop a connection whose client no longer reads.
   */
  open(topic: string, after: number, onEnd: (reason: EndReason | 'cancelled') => void = () => {}, preamble = ''): Subscription {
    const subscription = new Subscription(
      topic,
      after,
      // Bytes first (memory), then a connection slot: a read waiting for bytes holds no connection.
      async (from, limit, maxBytes) => {
        const bound = await this.horizon.current();
        const rows = await this.budget.run(maxBytes, () => this.gate.run(() => readEvents(this.sql, bound, topic, from, limit, maxBytes)));
        // An applied event the horizon still holds back: read again once it is passed.
        if (rows.heldFrom !== null && !rows.full) this.holdUntil(subscription, rows.heldFrom);
        return rows;
      },
      this.options,
      (ended, reason) => {
        this.remove(ended);
        onEnd(reason);
      },
      // An outage fails every subscription's read each second: that is news once (workers and
      // requests report it), not once per subscriber.
      (error) => this.log[isUnavailable(error) ? 'debug' : 'warn']({ err: error, topic }, 'subscription read failed; retrying'),
      preamble,
    );
    let subscriptions = this.byTopic.get(topic);
    if (!subscriptions) {
      this.byTopic.set(topic, (subscriptions = new Set()));
      const slot = topicSlotOf(topic);
      let topics = this.topicsBySlot.get(slot);
      if (!topics) this.topicsBySlot.set(slot, (topics = new Set()));
      topics.add(topic);
    }
    subscriptions.add(subscription);
    if (this.timer === null) this.timer = setInterval(() => this.tick(), TICK_MS);
    return subscription;
  }

  /** Calls `listener` with every wake-up's topic slots (null: any topic); returns how to stop. */
  onWake(listener: (slots: readonly number[] | null) => void): () => void {
    this.wakeListeners.add(listener);
    return () => this.wakeListeners.delete(listener);
  }

  /** Wakes the subscriptions of topics in `slots` (topic slots), or all of them for null. */
  wake(slots: readonly number[] | null): void {
    for (const listener of this.wakeListeners) listener(slots);
    if (slots === null) {
      for (const subscriptions of this.byTopic.values()) for (const subscription of subscriptions) subscription.wake();
      return;
    }
    for (const slot of slots) {
      for (const topic of this.topicsBySlot.get(slot) ?? []) {
        for (const subscription of this.byTopic.get(topic) ?? []) subscription.wake();
      }
    }
  }

  /**
   * Ends every stream with `event: shutdown` (drain); later open() calls are the route's to
   * refuse. The horizon is the replica's: the aggregator's drain closes it.
   */
  closeAll(): void {
    this.closed = true;
    for (const subscriptions of [...this.byTopic.values()]) {
      for (const subscription of [...subscriptions]) {
        subscription.end('shutdown', 'this replica is shutting down; reconnect with Last-Event-ID to resume');
      }
    }
    this.stopTimer();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Where a subscription without a start position begins: the topic's head below the horizon. */
  async head(topic: string): Promise<number> {
    const bound = await this.horizon.current();
    return this.gate.run(() => readHead(this.sql, bound, topic));
  }

  /** What expired after `after` in `topic` (null: nothing), through the read gate. */
  expiry(topic: string, after: number): Promise<Expiry | null> {
    return this.gate.run(() => readExpiry(this.sql, topic, after));
  }

  /** The heads of `topics` below the horizon, through the read gate. */
  private async heads(topics: readonly string[]): Promise<Map<string, number>> {
    const bound = await this.horizon.current();
    return this.gate.run(() => readHeads(this.sql, bound, topics));
  }

  private holdUntil(subscription: Subscription, seq: number): void {
    this.holds.get(subscription)?.();
    this.holds.set(
      subscription,
      this.horizon.hold(seq, () => {
        this.holds.delete(subscription);
        subscription.wake();
      }),
    );
  }

  private remove(subscription: Subscription): void {
    this.holds.get(subscription)?.();
    this.holds.delete(subscription);
    const subscriptions = this.byTopic.get(subscription.topic);
    subscriptions?.delete(subscription);
    if (subscriptions?.size === 0) {
      this.byTopic.delete(subscription.topic);
      const slot = topicSlotOf(subscription.topic);
      const topics = this.topicsBySlot.get(slot);
      topics?.delete(subscription.topic);
      if (topics?.size === 0) this.topicsBySlot.delete(slot);
    }
    if (this.byTopic.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = Date.now();
    const slow: Subscription[] = [];
    for (const subscriptions of this.byTopic.values()) {
      for (const subscription of subscriptions) if (subscription.behindFor(now) > this.options.slowMs) slow.push(subscription);
    }
    if (slow.length > 0 && !this.confirming) void this.confirmSlow(slow);
    this.ticks++;
    if ((this.ticks * TICK_MS) % this.options.sweepMs < TICK_MS) void this.sweep();
  }

  /**
   * Ends the streams of subscribers that are behind for real: events past their cursor exist.
   * Wake-ups name topic slots and a full page only may have a successor, so the database decides.
   */
  private async confirmSlow(candidates: Subscription[]): Promise<void> {
    this.confirming = true;
    try {
      const heads = await this.heads([...new Set(candidates.map((s) => s.topic))]);
      const now = Date.now();
      for (const subscription of candidates) {
        const behind = subscription.behindFor(now);
        if (behind <= this.options.slowMs) continue; // it read meanwhile
        if ((heads.get(subscription.topic) ?? 0) > subscription.lastEventId) {
          this.log.info(
            { topic: subscription.topic, lastEventId: subscription.lastEventId, behindMs: behind },
            'slow subscriber: stream ended with overflow',
          );
          subscription.overflow(behind);
        } else {
          subscription.notBehind();
        }
      }
    } catch (error) {
      this.log.debug({ err: error }, 'slow subscriber check failed');
    } finally {
      this.confirming = false;
    }
  }

  /** Wakes subscriptions that are behind their topic's head: covers a NOTIFY that never came. */
  private async sweep(): Promise<void> {
    const topics = [...this.byTopic.keys()];
    if (topics.length === 0) return;
    try {
      const heads = await this.heads(topics);
      for (const [topic, head] of heads) {
        for (const subscription of this.byTopic.get(topic) ?? []) if (subscription.lastEventId < head) subscription.wake();
      }
    } catch (error) {
      this.log.debug({ err: error }, 'subscription sweep failed');
    }
  }
}
