// The headers a dead letter carries on the broker, besides the event's own:
// written when the publisher ships it, read back when it is listed or
// replayed, where the dead-letter and RabbitMQ's own death headers are dropped
// again so that a replayed event carries only its own.

import type { AMQPMessage } from "@cloudamqp/amqp-client";
import {
  DEAD_LETTER_REASONS,
  type DeadLetterReason,
  type DeadLetterRecord,
} from "../store/store.ts";
import type { DeadLetter, DeadLetterProperties } from "./dead_letter.ts";

// What the publisher adds to a dead letter's headers (see `deadLetterHeaders`
// below), and what RabbitMQ adds when it dead-letters by itself:
// none of it goes back to the original exchange on replay.
const HEADER = {
  reason: "x-dead-letter-reason",
  attempts: "x-retry-count",
  exchange: "x-original-exchange",
  routingKey: "x-original-routing-key",
  deadLetteredAt: "x-dead-lettered-at",
  acceptedAt: "x-accepted-at",
  errorName: "x-error-name",
  errorMessage: "x-error-message",
  firstFailureAt: "x-first-failure-at",
  lastFailureAt: "x-last-failure-at",
} as const;
/**
 * The headers a dead letter carries on the broker, besides the event's own:
 * why it failed, how often, when, and where it was going.
 *
 * @param letter The dead letter.
 * @returns The headers, named as in the README's dead-letter table.
 * @throws {RangeError} When `deadLetteredAt` or `acceptedAt` is not a valid
 * time (from `Date.prototype.toISOString`).
 *
 * @example
 * ```ts
 * import { deadLetterHeaders } from "./_headers.ts";
 *
 * const headers = deadLetterHeaders({
 *   id: "evt-1", type: "user.created", priority: "normal", routingKey: "user.created",
 *   body: "{}", bytes: 2, exchange: "domain-events", acceptedAt: 0, seq: 1, attempts: 1,
 *   nextAttemptAt: 0, reason: "unroutable", deadLetteredAt: 0,
 *   properties: {
 *     contentType: "application/json", deliveryMode: 2, messageId: "evt-1",
 *     type: "user.created", timestamp: 0, headers: {},
 *   },
 * });
 * console.log(headers["x-dead-letter-reason"]); // "unroutable"
 * ```
 */
export function deadLetterHeaders(letter: DeadLetterRecord): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    [HEADER.reason]: letter.reason,
    [HEADER.attempts]: letter.attempts,
    [HEADER.exchange]: letter.exchange,
    [HEADER.routingKey]: letter.routingKey,
    [HEADER.deadLetteredAt]: new Date(letter.deadLetteredAt).toISOString(),
    [HEADER.acceptedAt]: new Date(letter.acceptedAt).toISOString(),
  };
  if (letter.errorName) headers[HEADER.errorName] = letter.errorName;
  if (letter.errorMessage) headers[HEADER.errorMessage] = letter.errorMessage;
  if (letter.firstFailureAt) {
    headers[HEADER.firstFailureAt] = new Date(letter.firstFailureAt).toISOString();
  }
  if (letter.lastFailureAt) {
    headers[HEADER.lastFailureAt] = new Date(letter.lastFailureAt).toISOString();
  }
  return headers;
}

const DEAD_LETTER_HEADERS: ReadonlySet<string> = new Set(Object.values(HEADER));
// What the broker adds: dead-lettering records, and the delivery count a
// quorum queue keeps on each message it hands out again (list() returns
// what it reads).
const BROKER_HEADER = /^x-(death|first-death-|last-death-|delivery-count$)/;

/** A dead letter of the local store, with the event's own headers only. */
export function fromRecord(record: DeadLetterRecord): DeadLetter {
  const letter: DeadLetter = {
    id: record.id,
    type: record.type,
    reason: record.reason,
    attempts: record.attempts,
    acceptedAt: record.acceptedAt,
    deadLetteredAt: record.deadLetteredAt,
    originalExchange: record.exchange,
    originalRoutingKey: record.routingKey,
    body: record.body,
    properties: { ...record.properties, headers: ownHeaders(record.properties.headers) },
    location: "local",
  };
  if (record.errorName !== undefined) letter.errorName = record.errorName;
  if (record.errorMessage !== undefined) letter.errorMessage = record.errorMessage;
  if (record.firstFailureAt !== undefined) letter.firstFailureAt = record.firstFailureAt;
  if (record.lastFailureAt !== undefined) letter.lastFailureAt = record.lastFailureAt;
  return letter;
}

/** A dead letter read from the broker queue: the failure from our headers, the event's own headers apart. */
export function fromMessage(message: AMQPMessage): DeadLetter {
  const { timestamp, headers = {}, ...rest } = message.properties;
  const properties: DeadLetterProperties = { headers: ownHeaders(headers) };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (properties as unknown as Record<string, unknown>)[key] = value;
  }
  if (timestamp !== undefined) properties.timestamp = timestamp.getTime();
  const text = (name: string) => {
    const value = headers[name];
    return value === undefined || value === null ? undefined : String(value);
  };
  const time = (name: string) => {
    const value = text(name);
    const ms = value === undefined ? NaN : Date.parse(value);
    return Number.isFinite(ms) ? ms : undefined;
  };
  const reason = text(HEADER.reason);
  const letter: DeadLetter = {
    id: message.properties.messageId ?? "",
    type: message.properties.type ?? "",
    reason: reason !== undefined && (DEAD_LETTER_REASONS as readonly string[]).includes(reason)
      ? reason as DeadLetterReason
      : "unknown",
    attempts: Number(text(HEADER.attempts) ?? 0) || 0,
    deadLetteredAt: time(HEADER.deadLetteredAt) ?? properties.timestamp ?? 0,
    originalExchange: text(HEADER.exchange) ?? message.exchange,
    originalRoutingKey: text(HEADER.routingKey) ?? message.routingKey,
    body: message.bodyToString() ?? "",
    properties,
    location: "broker",
  };
  const optional = {
    errorName: text(HEADER.errorName),
    errorMessage: text(HEADER.errorMessage),
    acceptedAt: time(HEADER.acceptedAt),
    firstFailureAt: time(HEADER.firstFailureAt),
    lastFailureAt: time(HEADER.lastFailureAt),
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (letter as unknown as Record<string, unknown>)[key] = value;
  }
  return letter;
}

/** The event's own headers: without what dead-lettering and the broker added. */
function ownHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) =>
      !DEAD_LETTER_HEADERS.has(name) && !BROKER_HEADER.test(name)
    ),
  );
}
