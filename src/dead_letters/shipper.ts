/**
 * Moving dead letters from the local store to the broker's dead-letter
 * exchange: {@linkcode shipDeadLetters}. The publisher's housekeeping decides
 * when; this file owns how.
 *
 * @module
 */

import type { Transport } from "../amqp/transport.ts";
import type { PendingStore } from "../store/store.ts";
import { deadLetterHeaders } from "./_headers.ts";

/**
 * Where and how {@linkcode shipDeadLetters} moves dead letters.
 *
 * @example
 * ```ts ignore
 * import type { ShipOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * declare const parts: Pick<ShipOptions, "store" | "transport">;
 * const options: ShipOptions = { ...parts, exchange: "domain-events.dlx", batchSize: 100, publishTimeout: 30_000 };
 * ```
 */
export interface ShipOptions {
  /** The store that holds the local dead letters. */
  store: PendingStore;
  /** The transport to the broker. */
  transport: Transport;
  /** The dead-letter exchange. */
  exchange: string;
  /** How many letters to send at once. */
  batchSize: number;
  /** How long to wait for the confirms of one batch, in ms. */
  publishTimeout: number;
  /**
   * No batch starts after this time (ms since the epoch), and none waits
   * past it for its confirms.
   * @default {Infinity}
   */
  deadline?: number;
  /** The clock for `deadline`. @default {Date.now} */
  now?: () => number;
}

/**
 * What {@linkcode shipDeadLetters} did.
 *
 * @example
 * ```ts
 * import type { ShipReport } from "./shipper.ts";
 *
 * const report: ShipReport = { moved: 10, kept: 2, error: new Error("NOT_FOUND - no exchange") };
 * ```
 */
export interface ShipReport {
  /** Letters confirmed by the broker and removed from the store. */
  moved: number;
  /** Letters of the last batch the broker did not confirm, still local. */
  kept: number;
  /** Why the first of the kept letters failed. */
  error?: Error;
  /** Whether the deadline stopped the move with letters left. */
  timedOut?: boolean;
}

/**
 * Moves local dead letters to the broker's dead-letter exchange, a batch at
 * a time, while the transport is connected and the deadline is not past. A
 * letter leaves the store only once the broker confirmed it (a crash in
 * between leaves a duplicate, never a loss). Stops at the first batch the
 * broker did not fully confirm.
 *
 * @param options The store, the transport, the exchange and the batch size.
 * @returns How many letters moved, and how many of the last batch stayed.
 * @throws {Error} When the store cannot be read or written.
 *
 * @example
 * ```ts ignore
 * import { shipDeadLetters, type ShipOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * declare const parts: Pick<ShipOptions, "store" | "transport">;
 * const { moved, kept } = await shipDeadLetters({
 *   ...parts,
 *   exchange: "domain-events.dlx",
 *   batchSize: 100,
 *   publishTimeout: 30_000,
 * });
 * console.log(`${moved} moved, ${kept} kept locally`);
 * ```
 */
export async function shipDeadLetters(options: ShipOptions): Promise<ShipReport> {
  const { store, transport, exchange, batchSize, publishTimeout } = options;
  const { deadline = Infinity, now = Date.now } = options;
  let moved = 0;
  while (transport.state === "connected") {
    const left = deadline - now();
    if (left <= 0) {
      const kept = store.stats().deadLetters;
      return kept === 0 ? { moved, kept } : { moved, kept, timedOut: true };
    }
    const letters = await store.listDeadLetters(batchSize);
    if (letters.length === 0) break;
    const outcomes = await transport.send(
      letters.map((letter) => ({
        exchange,
        routingKey: letter.routingKey,
        body: letter.body,
        properties: {
          ...letter.properties,
          headers: { ...letter.properties.headers, ...deadLetterHeaders(letter) },
        },
      })),
      Math.min(publishTimeout, left),
    );
    const shipped = letters.filter((_, i) => outcomes[i].ok);
    await store.removeDeadLetters(shipped.map((letter) => letter.seq));
    moved += shipped.length;
    if (shipped.length < letters.length) {
      const failure = outcomes.find((outcome) => !outcome.ok);
      const report: ShipReport = { moved, kept: letters.length - shipped.length };
      if (failure !== undefined && !failure.ok) report.error = failure.error;
      return report;
    }
  }
  return { moved, kept: 0 };
}
