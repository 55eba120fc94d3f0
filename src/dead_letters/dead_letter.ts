/**
 * What a dead letter looks like to whoever inspects or replays it, wherever
 * it is held: in the publisher's local store or in the broker's dead-letter queue.
 *
 * @module
 */

import type { DeadLetterReason } from "../store/store.ts";

/**
 * The AMQP basic properties of a dead letter, as they are replayed (timestamp in ms).
 *
 * @example
 * ```ts
 * import type { DeadLetterProperties } from "@simplycaster/rabbitmq-publisher";
 *
 * const properties: DeadLetterProperties = {
 *   contentType: "application/json",
 *   deliveryMode: 2,
 *   messageId: "evt-1",
 *   type: "user.created",
 *   timestamp: Date.parse("2025-01-01T12:00:00Z"),
 *   headers: { "event-version": "1.0", "event-priority": "normal" },
 * };
 * ```
 */
export interface DeadLetterProperties {
  /** The MIME type of the body, `application/json` for events. */
  contentType?: string;
  /** The body's encoding, if any. */
  contentEncoding?: string;
  /** 2 for persistent messages. */
  deliveryMode?: number;
  /** The AMQP priority (0-9). */
  priority?: number;
  /** The correlation id. */
  correlationId?: string;
  /** The reply-to queue. */
  replyTo?: string;
  /** The per-message TTL, in ms, as a string. */
  expiration?: string;
  /** The message id: the event id. */
  messageId?: string;
  /** When the event happened, in ms since the epoch (second precision on the broker). */
  timestamp?: number;
  /** The event type. */
  type?: string;
  /** The user id. */
  userId?: string;
  /** The application id. */
  appId?: string;
  /** The event's own headers, without the dead-letter and error headers. */
  headers: Record<string, unknown>;
}

/**
 * One dead letter, wherever it is held.
 *
 * @example
 * ```ts
 * import type { DeadLetter } from "@simplycaster/rabbitmq-publisher";
 *
 * const letter: DeadLetter = {
 *   id: "evt-1",
 *   type: "user.created",
 *   reason: "unroutable",
 *   attempts: 1,
 *   errorName: "TransportError",
 *   errorMessage: 'unroutable: exchange "domain-events" has no queue bound for routing key ' +
 *     '"user.created" (NO_ROUTE)',
 *   acceptedAt: Date.parse("2025-01-01T12:00:00Z"),
 *   firstFailureAt: Date.parse("2025-01-01T12:00:01Z"),
 *   lastFailureAt: Date.parse("2025-01-01T12:00:01Z"),
 *   deadLetteredAt: Date.parse("2025-01-01T12:00:01Z"),
 *   originalExchange: "domain-events",
 *   originalRoutingKey: "user.created",
 *   body: '{"id":"evt-1","type":"user.created","data":{"userId":7}}',
 *   properties: { contentType: "application/json", messageId: "evt-1", headers: {} },
 *   location: "broker",
 * };
 * ```
 */
export interface DeadLetter {
  /** The event id (`message_id`); selects the dead letter in `replay()` and `purge()`. */
  id: string;
  /** The event type. */
  type: string;
  /** Why it is a dead letter; `"unknown"` for a broker message without the reason header. */
  reason: DeadLetterReason | "unknown";
  /** Delivery attempts made before it became a dead letter. */
  attempts: number;
  /** The class of the last error, for example `TransportError`. */
  errorName?: string;
  /** The message of the last error (credentials masked). */
  errorMessage?: string;
  /** When the publisher accepted the event (ms since the epoch). */
  acceptedAt?: number;
  /** When the first failed attempt ended (ms since the epoch). */
  firstFailureAt?: number;
  /** When the last failed attempt ended (ms since the epoch). */
  lastFailureAt?: number;
  /** When it became a dead letter (ms since the epoch). */
  deadLetteredAt: number;
  /** The exchange the event was published to; replay sends it there. */
  originalExchange: string;
  /** The routing key it was published with; replay uses it again. */
  originalRoutingKey: string;
  /** The message body (JSON text for events). */
  body: string;
  /** The message properties, with the event's own headers only. */
  properties: DeadLetterProperties;
  /** Where it is held: in the local store, or in the broker's dead-letter queue. */
  location: "local" | "broker";
}
