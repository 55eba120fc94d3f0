/**
 * The named errors that callers of the publisher catch. Bad arguments and
 * configuration get the built-in `TypeError`/`RangeError` instead.
 *
 * @module
 */

/**
 * An event was refused before it was stored: a field is missing or has the
 * wrong type, the data cannot be encoded as JSON, or the encoded message is
 * too large. Nothing of the call that threw was stored.
 *
 * @example
 * ```ts
 * import { EventValidationError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new EventValidationError("id", "'id' must be a non-empty string: got \"\"");
 * console.log(err.field); // "id"
 * ```
 */
export class EventValidationError extends TypeError {
  /** The path of the offending field, for example `"metadata.priority"`. */
  readonly field: string;
  /** In `publishBatch()`, the index of the offending event in the batch. */
  readonly index?: number;

  /**
   * Creates the error.
   *
   * @param field The path of the offending field.
   * @param message What is wrong, naming the field and the bad value.
   * @param options `index` in a batch, and the `cause`.
   */
  constructor(field: string, message: string, options: { index?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "EventValidationError";
    this.field = field;
    this.index = options.index;
  }
}

/**
 * The pending-event buffer is full (by count or by bytes) and nothing was
 * stored: the overflow policy is `reject`, or it is
 * `drop-oldest-lowest-priority` and no pending event it may evict makes room
 * (it evicts only events not in flight and no more urgent than the ones
 * arriving; the message says so).
 *
 * @example
 * ```ts
 * import { BufferFullError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new BufferFullError({ size: 10, maxSize: 10, bytes: 900, maxBytes: 1000 });
 * console.log(err.message); // event buffer is full: 10/10 events, 900/1000 bytes
 * ```
 */
export class BufferFullError extends Error {
  /** Events pending when the event was refused. */
  readonly size: number;
  /** The configured maximum number of pending events. */
  readonly maxSize: number;
  /** Bytes pending when the event was refused. */
  readonly bytes: number;
  /** The configured maximum number of pending bytes. */
  readonly maxBytes: number;

  /**
   * Creates the error.
   *
   * @param limits The buffer's size and limits when the event was refused.
   * @param detail Why the overflow policy could not make room, when it tried.
   */
  constructor(
    limits: { size: number; maxSize: number; bytes: number; maxBytes: number },
    detail?: string,
  ) {
    super(
      `event buffer is full: ${limits.size}/${limits.maxSize} events, ` +
        `${limits.bytes}/${limits.maxBytes} bytes` + (detail === undefined ? "" : `; ${detail}`),
    );
    this.name = "BufferFullError";
    this.size = limits.size;
    this.maxSize = limits.maxSize;
    this.bytes = limits.bytes;
    this.maxBytes = limits.maxBytes;
  }
}

/**
 * A publisher confirm did not arrive within `publishTimeout`. The message was
 * sent, so RabbitMQ may or may not have it: the event stays pending and is
 * sent again (consumers de-duplicate on `message_id`).
 *
 * @example
 * ```ts
 * import { PublishTimeoutError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new PublishTimeoutError(30_000);
 * console.log(err.timeoutMs); // 30000
 * ```
 */
export class PublishTimeoutError extends Error {
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param timeoutMs The timeout that elapsed, in milliseconds.
   * @param options The `cause`, if any.
   */
  constructor(timeoutMs: number, options: { cause?: unknown } = {}) {
    super(`no publisher confirm within ${timeoutMs} ms`, { cause: options.cause });
    this.name = "PublishTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * `publish()` or `publishBatch()` was called after `close()` began. The event
 * was not stored.
 *
 * @example
 * ```ts
 * import { PublisherClosedError } from "@simplycaster/rabbitmq-publisher";
 *
 * console.log(new PublisherClosedError().message);
 * ```
 */
export class PublisherClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("the publisher is closed and accepts no more events");
    this.name = "PublisherClosedError";
  }
}

/**
 * Another live publisher holds the persistent store at this path. Two
 * processes draining one store would send every event twice, so the second
 * one is refused.
 *
 * @example
 * ```ts
 * import { StoreLockedError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new StoreLockedError("./data/events.kv", "pid 42 on host-a");
 * console.log(err.path);
 * ```
 */
export class StoreLockedError extends Error {
  /** The store's path. */
  readonly path: string;
  /** Who holds the lease, as that owner described itself. */
  readonly owner: string;

  /**
   * Creates the error.
   *
   * @param path The store's path.
   * @param owner Who holds the lease.
   */
  constructor(path: string, owner: string) {
    super(`the event store at ${path} is in use by another publisher (${owner})`);
    this.name = "StoreLockedError";
    this.path = path;
    this.owner = owner;
  }
}

/**
 * What kind of storage failure a {@linkcode StoreError} is.
 *
 * - `open`: the file cannot be opened (a directory, no permission, a parent
 *   that is not a directory);
 * - `corrupt`: the file is not a Deno KV database, or is damaged;
 * - `read-only`: the file or its file system is read-only;
 * - `disk-full`: the disk (or the file system's quota) is full;
 * - `io`: another input/output failure.
 *
 * @example
 * ```ts
 * import type { StoreErrorKind } from "@simplycaster/rabbitmq-publisher";
 *
 * const kind: StoreErrorKind = "disk-full";
 * ```
 */
export type StoreErrorKind = "open" | "corrupt" | "read-only" | "disk-full" | "io";

/**
 * The persistent store at `path` failed: it could not be opened, read or
 * written. The SQLite message beneath is the `cause`. A `publish()` whose
 * event could not be written rejects with it and nothing of it is stored;
 * events accepted before stay where they were.
 *
 * @example
 * ```ts
 * import { StoreError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new StoreError("disk-full", "./data/events.kv", new Error("database or disk is full"));
 * console.log(err.message); // the event store at ./data/events.kv cannot be written: the disk is full (database or disk is full)
 * console.log(err.kind, err.path); // disk-full ./data/events.kv
 * ```
 */
export class StoreError extends Error {
  /** What kind of failure it is. */
  readonly kind: StoreErrorKind;
  /** The store's path. */
  readonly path: string;

  /**
   * Creates the error.
   *
   * @param kind What kind of failure it is.
   * @param path The store's path.
   * @param cause The error beneath (its message is quoted).
   */
  constructor(kind: StoreErrorKind, path: string, cause: unknown) {
    const beneath = cause instanceof Error ? cause.message : String(cause);
    super(`the event store at ${path} ${STORE_FAILURES[kind]} (${beneath})`, { cause });
    this.name = "StoreError";
    this.kind = kind;
    this.path = path;
  }
}

const STORE_FAILURES: Record<StoreErrorKind, string> = {
  open: "cannot be opened",
  corrupt: "is not a Deno KV database, or is damaged",
  "read-only": "cannot be written: it is read-only",
  "disk-full": "cannot be written: the disk is full",
  io: "failed to read or write",
};

/**
 * What went wrong on the way to the broker, in terms the retry policy can
 * judge. `code` is the AMQP reply code where the broker gave one.
 *
 * @example
 * ```ts
 * import { TRANSPORT_ERROR_KINDS } from "./policies/error_classification.ts";
 * import type { TransportErrorKind } from "./errors.ts";
 *
 * const kind: TransportErrorKind = "unroutable";
 * console.log(TRANSPORT_ERROR_KINDS[kind]); // { retriable: false, reason: "unroutable" }
 * ```
 */
export type TransportErrorKind =
  /** Not connected when the send was attempted: never sent. */
  | "not-connected"
  /** The connection or the channel closed before the confirm arrived. */
  | "connection-lost"
  /** The broker closed the channel or connection with a reply code. */
  | "closed-by-broker"
  /**
   * The broker closed the channel because of *another* message on it: this
   * one was not refused. It goes again on the reopened channel, with no
   * attempt charged; `sent` says whether the broker may already have it.
   */
  | "channel-closed"
  /** The broker answered with basic.nack. */
  | "nack"
  /** The message was returned as unroutable (`mandatory`). */
  | "unroutable"
  /**
   * The message cannot be written as AMQP frames (a short string such as the
   * routing key over 255 bytes, a header value AMQP has no type for): never
   * sent, and no retry can change that.
   */
  | "unencodable"
  /** The connection is blocked by a resource alarm on the broker. */
  | "blocked"
  /** No confirm within the publish timeout. */
  | "timeout";

/**
 * A failure to get one message confirmed by RabbitMQ.
 *
 * @example
 * ```ts
 * import { TransportError } from "@simplycaster/rabbitmq-publisher";
 *
 * const err = new TransportError("nack", "message rejected by the broker", { sent: true });
 * console.log(err.kind, err.sent);
 * ```
 */
export class TransportError extends Error {
  /** What kind of failure this is. */
  readonly kind: TransportErrorKind;
  /** The AMQP reply code, where the broker gave one (for example 312, 403). */
  readonly code?: number;
  /**
   * Whether the message left this process. `false` means RabbitMQ certainly
   * does not have it; `true` without a confirm means the outcome is unknown
   * and a retry may produce a duplicate.
   */
  readonly sent: boolean;

  /**
   * Creates the error.
   *
   * @param kind What kind of failure this is.
   * @param message A readable description (never containing credentials).
   * @param options The reply `code`, whether it was `sent`, and the `cause`.
   */
  constructor(
    kind: TransportErrorKind,
    message: string,
    options: { code?: number; sent: boolean; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "TransportError";
    this.kind = kind;
    this.code = options.code;
    this.sent = options.sent;
  }
}

/**
 * The broker refused the publisher's setup when it connected: a login or a
 * vhost refused (403 ACCESS_REFUSED, 530 NOT_ALLOWED), an exchange that exists
 * with other settings (406 PRECONDITION_FAILED) or may not be declared (403).
 * Waiting does not fix that, a change of configuration does: the transport
 * logs the message (which says what to fix), retries at its longest
 * reconnect delay, and `getHealth()` reports it in the `configuration` check
 * until a connection succeeds.
 *
 * @example
 * ```ts
 * import { BrokerConfigurationError } from "@simplycaster/rabbitmq-publisher";
 *
 * const fix = "set exchangeType to the exchange's type";
 * const err = new BrokerConfigurationError(
 *   `RabbitMQ at amqp://app:***@rabbit:5672 refused the setup: PRECONDITION_FAILED - ` +
 *     `inequivalent arg 'type' for exchange 'orders' (406); ${fix}`,
 *   { code: 406, url: "amqp://app:***@rabbit:5672", fix },
 * );
 * console.log(err.code, err.fix); // 406 set exchangeType to the exchange's type
 * ```
 */
export class BrokerConfigurationError extends Error {
  /** The AMQP reply code the broker gave (403, 406, 530). */
  readonly code: number;
  /** The broker's URL, password masked. */
  readonly url: string;
  /** What to change so that the next connection succeeds. */
  readonly fix: string;

  /**
   * Creates the error.
   *
   * @param message The whole line: what the broker refused, in its words, and
   * what to fix (never containing credentials).
   * @param options The reply `code`, the masked `url`, the `fix`, and the `cause`.
   */
  constructor(
    message: string,
    options: { code: number; url: string; fix: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "BrokerConfigurationError";
    this.code = options.code;
    this.url = options.url;
    this.fix = options.fix;
  }
}
