// The options of KvStore.open(): which file, the limits, how much stays in
// memory, and the lease. Checked by `_open.ts` before anything is opened.

import type { StoreLimits } from "../store.ts";

/**
 * Options of {@linkcode KvStore.open}.
 *
 * @example
 * ```ts
 * import type { KvStoreOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: KvStoreOptions = {
 *   path: "./data/events.kv",
 *   limits: { maxEvents: 100_000, maxBytes: 100_000_000, overflow: "reject" },
 *   memoryLimit: 1_000,
 *   leaseTtlMs: 15_000,
 *   owner: "order-service on host-a",
 * };
 * ```
 */
export interface KvStoreOptions {
  /**
   * The KV file. Its directory is created when missing. A path ending in
   * `.json` (from older configurations) is used as the KV file as it is.
   */
  path: string;
  /** The store's count and byte limits and overflow policy (all pending events, on disk or not). */
  limits: StoreLimits;
  /** The most pending records held in memory at once; the rest wait on disk. */
  memoryLimit: number;
  /**
   * How long the lease on the store lasts without renewal, in ms. It is
   * renewed every third of this.
   * @default {15000}
   */
  leaseTtlMs?: number;
  /** The clock used for the lease. @default {Date.now} */
  now?: () => number;
  /**
   * How this process describes itself in the lease.
   * @default {"pid <Deno.pid> on <Deno.hostname()>"}
   */
  owner?: string;
  /**
   * An open KV to use instead of opening `path` (for tests). The store does
   * not close a KV it did not open; `path` still names the store in errors.
   */
  kv?: Deno.Kv;
}
