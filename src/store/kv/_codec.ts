// How the KV store lays out its keys and turns records into KV values and
// back: the key of each record, the fields that are stored, the body (as it
// is when ASCII, as UTF-8 bytes otherwise), the size estimate checked against
// Deno KV's value limit, and a dead letter cut to fit one value.
//
// | key                       | value                                                 |
// |---------------------------|-------------------------------------------------------|
// | `["pending", rank, seq]`  | a pending record (rank 0 high, 2 low)                 |
// | `["dead", seq]`           | a dead letter                                         |
// | `["meta", "seq"]`         | the highest `seq` handed out, written with every commit |
// | `["lease"]`               | `{ owner, expiresAt, token, pid, host }` of the one owner |
//
// Listing `["pending"]` yields the records in the order they are sent: by
// priority, then by arrival.

import { MAX_ERROR_CHARS } from "../_dead_letter.ts";
import { priorityRank } from "../_pending_index.ts";
import type { EventPriority } from "../../event.ts";
import type { DeadLetterRecord, NewRecord, PendingRecord } from "../store.ts";

export const LEASE_KEY: Deno.KvKey = ["lease"];
export const SEQ_KEY: Deno.KvKey = ["meta", "seq"];
export const PENDING_PREFIX: Deno.KvKey = ["pending"];
export const DEAD_PREFIX: Deno.KvKey = ["dead"];

/** An estimate of a key's size in an atomic operation. */
export const KEY_BYTES = 40;
// Deno KV refuses values over 64 KiB.
const MAX_VALUE_BYTES = 65_536;
// V8's serialisation adds a few bytes per field and number; a margin covers them.
const SERIALISATION_MARGIN = 512;
// In an atomic, what V8 adds over the fields' JSON text (the body's view, the
// header) stays under this: random records measured it at no more than 20.
const ATOMIC_MARGIN = 64;
/**
 * What the fields a stored record adds to a new one (`seq`, `attempts`,
 * `nextAttemptAt`) can take in its size, as two-byte text at their longest.
 */
export const STORED_FIELDS_BYTES = 200;
const NOT_ONE_BYTE = /[\u0100-\uffff]/;

export function pendingKey(record: PendingRecord): Deno.KvKey {
  // A literal, not a spread of the prefix: this key is held until its commit.
  return [PENDING_PREFIX[0], priorityRank(record.priority), record.seq];
}

/** Selects, in order, the records of a priority with `seq` above `after`. */
export function pendingAfter(priority: EventPriority, after: number): Deno.KvListSelector {
  const prefix = [...PENDING_PREFIX, priorityRank(priority)];
  return { prefix, start: [...prefix, after + 1] };
}

export function deadKey(seq: number): Deno.KvKey {
  return [DEAD_PREFIX[0], seq];
}

/** The `seq` of a dead letter's key. */
export function deadSeq(key: Deno.KvKey): number {
  return key[1] as number;
}

/**
 * The fields of a pending record that are stored, and nothing else, with its
 * place and delivery schedule (given apart, so that a new record is built
 * once rather than completed, then copied).
 */
export function toStored(
  record: NewRecord & Partial<PendingRecord>,
  seq: number,
  attempts: number,
  nextAttemptAt: number,
): PendingRecord {
  const stored: PendingRecord = {
    id: record.id,
    type: record.type,
    priority: record.priority,
    routingKey: record.routingKey,
    body: record.body,
    bytes: record.bytes,
    properties: record.properties,
    exchange: record.exchange,
    acceptedAt: record.acceptedAt,
    seq,
    attempts,
    nextAttemptAt,
  };
  if (record.firstFailureAt !== undefined) stored.firstFailureAt = record.firstFailureAt;
  if (record.lastFailureAt !== undefined) stored.lastFailureAt = record.lastFailureAt;
  if (record.lastError !== undefined) stored.lastError = record.lastError;
  if (record.outcomeUnknown !== undefined) stored.outcomeUnknown = record.outcomeUnknown;
  return stored;
}

/**
 * A record back from a failed attempt, as stored. Added records passed the
 * size check; a longer `lastError` is cut so that saving it cannot fail.
 */
export function toStoredRetry(record: PendingRecord): PendingRecord {
  const value = toStored(record, record.seq, record.attempts, record.nextAttemptAt);
  if (value.lastError !== undefined && value.lastError.length > MAX_ERROR_CHARS) {
    value.lastError = value.lastError.slice(0, MAX_ERROR_CHARS);
  }
  return value;
}

/** A record as stored: the body as it is when ASCII, as its UTF-8 bytes otherwise. */
export type OnDisk<T extends { body: string }> = Omit<T, "body"> & { body: string | Uint8Array };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

// A body that is not ASCII is stored as its UTF-8 bytes: V8 serialises a
// string that holds one character beyond Latin-1 at two bytes per character,
// which would double a large body with a single euro sign in it. An ASCII
// body (its UTF-8 length, `bytes`, is its length) takes a byte a character as
// a string already, and is stored as it is, without a copy of the record.
export function toDisk(value: unknown): unknown {
  if (typeof value !== "object" || value === null || !("body" in value)) return value;
  const { body, bytes } = value as { body: unknown; bytes?: unknown };
  if (typeof body !== "string" || bytes === body.length) return value;
  return { ...value, body: utf8.encode(body) };
}

export function fromDisk<T extends { body: string }>(value: OnDisk<T>): T {
  const { body } = value;
  if (typeof body === "string") return value as unknown as T;
  return { ...value, body: fromUtf8.decode(body) } as unknown as T;
}

/**
 * An upper estimate of a record's size in an atomic operation: its key, the
 * body's UTF-8 bytes, and the other fields as V8 stores their text (one byte
 * per character when it can, two otherwise). The check against Deno KV's
 * value limit keeps a wider margin.
 *
 * @throws {RangeError} When it exceeds Deno KV's value limit.
 */
export function recordSize(record: NewRecord): number {
  const text = JSON.stringify({ ...record, body: "" });
  const rest = NOT_ONE_BYTE.test(text) ? text.length * 2 : text.length;
  const estimate = KEY_BYTES + record.bytes + rest;
  const size = estimate + SERIALISATION_MARGIN;
  if (size > MAX_VALUE_BYTES) {
    throw new RangeError(
      `event ${JSON.stringify(record.id)} takes about ${size} bytes as a Deno KV value, more ` +
        `than its limit of ${MAX_VALUE_BYTES}: lower maxMessageBytes`,
    );
  }
  return estimate + ATOMIC_MARGIN;
}

/**
 * A dead letter that fits in one KV value: its pending record fitted, and
 * what the dead letter adds is mostly error text, which gives way first.
 */
export function fitDeadLetter(letter: DeadLetterRecord): DeadLetterRecord {
  const value = { ...letter };
  try {
    recordSize(value);
  } catch {
    delete value.lastError;
    if (value.errorMessage !== undefined) value.errorMessage = value.errorMessage.slice(0, 200);
  }
  return value;
}
