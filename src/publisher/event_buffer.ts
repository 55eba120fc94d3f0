/**
 * `RabbitMQEventBuffer`: the operator's view of the pending-event store, which
 * is also the outage buffer.
 *
 * @module
 */

import type { EventPriority } from "../event.ts";
import type { PendingStore } from "../store/store.ts";

/**
 * A snapshot of the buffer.
 *
 * @example
 * ```ts
 * import type { EventBufferStats } from "@simplycaster/rabbitmq-publisher";
 *
 * const stats: EventBufferStats = {
 *   size: 250,
 *   maxSize: 10_000,
 *   bytes: 75_000,
 *   maxBytes: 52_428_800,
 *   utilizationPercent: 2.5,
 *   byPriority: { high: 0, normal: 240, low: 10 },
 *   inFlight: 50,
 *   oldestEventAgeMs: 1_200,
 *   expiredEvents: 0,
 *   droppedEvents: 0,
 *   localDeadLetters: 0,
 *   persistent: true,
 * };
 * ```
 */
export interface EventBufferStats {
  /** Pending events (not yet confirmed by RabbitMQ), in flight included. */
  size: number;
  /** The most pending events allowed (`bufferConfig.maxBufferSize`). */
  maxSize: number;
  /** Pending bytes. */
  bytes: number;
  /** The most pending bytes allowed (`bufferConfig.maxPersistentSize`). */
  maxBytes: number;
  /** The fuller of count and bytes, in percent (0-100, one decimal). */
  utilizationPercent: number;
  /** Pending events by priority. */
  byPriority: Record<EventPriority, number>;
  /** Events sent and awaiting their confirm. */
  inFlight: number;
  /** Age of the oldest pending event in ms; 0 when empty. */
  oldestEventAgeMs: number;
  /** Events dead-lettered because they outlived `maxEventAge`. */
  expiredEvents: number;
  /** Events evicted by the overflow policy (and dead-lettered). */
  droppedEvents: number;
  /** Dead letters held locally, waiting to be moved to the broker's dead-letter queue. */
  localDeadLetters: number;
  /** Whether pending events are on disk (Deno KV). */
  persistent: boolean;
}

/**
 * The pending-event buffer as operators see it.
 *
 * @example
 * ```ts
 * import { MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
 *
 * const store = new MemoryStore({ maxEvents: 10, maxBytes: 1_000, overflow: "reject" });
 * const buffer = new RabbitMQEventBuffer(store);
 * console.log(buffer.getStats().utilizationPercent); // 0
 * ```
 */
export class RabbitMQEventBuffer {
  readonly #store: PendingStore;
  readonly #now: () => number;

  /**
   * Creates the view of a store.
   *
   * @param store The pending-event store.
   * @param now The clock, for the age of the oldest event.
   *
   * @example
   * ```ts
   * import { MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 10, maxBytes: 1_000, overflow: "reject" });
   * const buffer = new RabbitMQEventBuffer(store, () => 0);
   * console.log(buffer.getStats().oldestEventAgeMs); // 0
   * ```
   */
  constructor(store: PendingStore, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * A snapshot of sizes, limits and counters.
   *
   * @returns The buffer's statistics.
   *
   * @example
   * ```ts
   * import { encodeEvent, MemoryStore, RabbitMQEventBuffer } from "@simplycaster/rabbitmq-publisher";
   *
   * const store = new MemoryStore({ maxEvents: 4, maxBytes: 1_000_000, overflow: "reject" });
   * const event = encodeEvent({ id: "evt-1", type: "user.created", data: {} });
   * await store.add([{ ...event, exchange: "domain-events", acceptedAt: 1_000 }]);
   * const stats = new RabbitMQEventBuffer(store, () => 3_000).getStats();
   * console.log(stats.utilizationPercent, stats.oldestEventAgeMs); // 25 2000
   * ```
   */
  getStats(): EventBufferStats {
    const s = this.#store.stats();
    const fill = Math.max(s.size / s.maxSize, s.bytes / s.maxBytes);
    return {
      size: s.size,
      maxSize: s.maxSize,
      bytes: s.bytes,
      maxBytes: s.maxBytes,
      utilizationPercent: Math.round(fill * 1000) / 10,
      byPriority: s.byPriority,
      inFlight: s.inFlight,
      oldestEventAgeMs: s.oldestAcceptedAt === undefined
        ? 0
        : Math.max(0, this.#now() - s.oldestAcceptedAt),
      expiredEvents: s.expiredEvents,
      droppedEvents: s.droppedEvents,
      localDeadLetters: s.deadLetters,
      persistent: s.persistent,
    };
  }
}
