/**
 * The transport: what the publisher needs from a broker connection, whatever
 * carries it. The RabbitMQ implementation is `AmqpTransport`; tests may script
 * their own.
 *
 * @module
 */

import type { TransportError } from "../errors.ts";
import type { MessageProperties } from "../event.ts";

/**
 * The state of the broker connection.
 *
 * @example
 * ```ts
 * import type { ConnectionState } from "@simplycaster/rabbitmq-publisher";
 *
 * const canPublish = (state: ConnectionState) => state === "connected";
 * console.log(canPublish("blocked")); // false
 * ```
 */
export type ConnectionState =
  /** Trying to connect (first time or after a loss). */
  | "connecting"
  /** Connected, channel in confirm mode, topology declared. */
  | "connected"
  /** Connected, but the broker blocks publishing (a memory or disk alarm). */
  | "blocked"
  /** Not connected: before `start()`, or lost with a reconnection scheduled. */
  | "disconnected"
  /** Closed by `close()`; final. */
  | "closed";

/**
 * A change of {@linkcode ConnectionState}.
 *
 * @example
 * ```ts
 * import type { ConnectionStateChange } from "@simplycaster/rabbitmq-publisher";
 *
 * const change: ConnectionStateChange = {
 *   from: "connected",
 *   to: "disconnected",
 *   at: Date.now(),
 *   url: "amqp://app:***@rabbit:5672",
 *   error: new Error("connection reset"),
 * };
 * ```
 */
export interface ConnectionStateChange {
  /** The state before. */
  from: ConnectionState;
  /** The state now. */
  to: ConnectionState;
  /** When it changed (ms since the epoch). */
  at: number;
  /** The broker URL involved, with the password masked. */
  url?: string;
  /** Why, for losses and failed attempts (credentials masked). */
  error?: Error;
}

/**
 * One message to publish.
 *
 * @example
 * ```ts
 * import { encodeEvent, type OutboundMessage } from "@simplycaster/rabbitmq-publisher";
 *
 * const { routingKey, body, properties } = encodeEvent({ id: "evt-1", type: "user.created", data: {} });
 * const message: OutboundMessage = { exchange: "domain-events", routingKey, body, properties };
 * ```
 */
export interface OutboundMessage {
  /** The exchange. */
  exchange: string;
  /** The routing key. */
  routingKey: string;
  /** The body (JSON text). */
  body: string;
  /** The AMQP properties. */
  properties: MessageProperties;
}

/**
 * What became of one message of a {@linkcode Transport.send} call.
 *
 * @example
 * ```ts
 * import { type SendOutcome, TransportError } from "@simplycaster/rabbitmq-publisher";
 *
 * const outcomes: SendOutcome[] = [
 *   { ok: true },
 *   { ok: false, error: new TransportError("timeout", "no confirm", { sent: true }) },
 * ];
 * console.log(outcomes.filter((o) => !o.ok).length); // 1
 * ```
 */
export type SendOutcome =
  /** RabbitMQ confirmed it (and did not return it). */
  | { ok: true }
  /** It failed; `error.sent` tells whether the outcome is unknown. */
  | { ok: false; error: TransportError };

/**
 * Options of one {@linkcode Transport.send} call.
 *
 * @example
 * ```ts
 * import type { SendOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * let confirmed = 0;
 * const options: SendOptions = { onOutcome: (_index, outcome) => outcome.ok && confirmed++ };
 * ```
 */
export interface SendOptions {
  /**
   * Told each message's outcome as soon as the broker gave it (`index` in
   * the call), before `send()` resolves: one confirm frees one place in the
   * publisher's window. A transport that never calls it is still correct;
   * its messages then settle when `send()` resolves.
   */
  onOutcome?: (index: number, outcome: SendOutcome) => void;
}

/**
 * A connection to a broker that publishes with confirms. Implement it to
 * run the publisher against something other than RabbitMQ, for example a
 * fake in tests.
 *
 * @example
 * ```ts
 * import {
 *   createRabbitMQAsyncEventPublisher,
 *   type Transport,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * // Confirms every message at once.
 * const transport: Transport = {
 *   state: "connected",
 *   reconnectAttempts: 0,
 *   url: undefined,
 *   start: () => Promise.resolve(true),
 *   send: (messages) => Promise.resolve(messages.map(() => ({ ok: true as const }))),
 *   onStateChange: () => () => {},
 *   close: () => Promise.resolve(),
 * };
 * const publisher = await createRabbitMQAsyncEventPublisher({}, {}, { transport });
 * const receipt = await publisher.publish({
 *   id: "evt-1",
 *   type: "user.created",
 *   data: {},
 *   metadata: { priority: "high" },
 * });
 * console.log(receipt.status); // "confirmed"
 * await publisher.close();
 * ```
 */
export interface Transport {
  /** The current state. */
  readonly state: ConnectionState;
  /** Failed connection attempts since the last successful connect. */
  readonly reconnectAttempts: number;
  /** The URL of the current (or last) connection, password masked. */
  readonly url: string | undefined;
  /** While `state` is `"blocked"`: the reason the broker gave (`connection.blocked`). */
  readonly blockedReason?: string;
  /**
   * Starts connecting, and keeps reconnecting after losses until `close()`.
   *
   * @returns Resolves after the first attempt through every URL: `true` when connected.
   */
  start(): Promise<boolean>;
  /**
   * Publishes messages (with `mandatory`) and waits for their confirms.
   * Never rejects: each message gets its own outcome, in order, settled by
   * its own ack, nack, return or refusal. A message the broker did not
   * refuse, but lost with a channel it closed over another message, fails as
   * `channel-closed`. While the connection is blocked the wait does not count
   * towards `timeoutMs`.
   *
   * @param messages The messages.
   * @param timeoutMs The longest wait for a confirm (time spent blocked excluded).
   * @param options `onOutcome`, told each outcome as it comes.
   * @returns One outcome per message, in the order given.
   */
  send(
    messages: readonly OutboundMessage[],
    timeoutMs: number,
    options?: SendOptions,
  ): Promise<SendOutcome[]>;
  /**
   * Calls `listener` on every state change.
   *
   * @param listener Called with each change, after it happened.
   * @returns A function that removes the listener.
   */
  onStateChange(listener: (change: ConnectionStateChange) => void): () => void;
  /**
   * Closes the connection and stops reconnecting.
   *
   * @returns Resolves once the connection is closed.
   */
  close(): Promise<void>;
}
