/**
 * `DeadLetterQueue`: inspection and replay of dead letters, both those still
 * held in the local store and those already in the broker's dead-letter queue.
 *
 * Broker dead letters are read with `basic.get` without acknowledging them;
 * whatever is not acknowledged goes back to its place in the queue when the
 * reading channel closes, so looking never removes anything. A dead letter
 * leaves the queue only after its replay was confirmed, or when it is purged.
 *
 * @module
 */

import { maskCredentials, maskUrl } from "../_mask.ts";
import { type AMQPChannel, AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { deadline } from "../_async.ts";
import { guardClient, treatNacksAsMultiple } from "../amqp/_workarounds.ts";
import { type Logger, quietLogger } from "../logger.ts";
import type { DeadLetterReason, DeadLetterRecord, PendingStore } from "../store/store.ts";

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

/**
 * Options of {@linkcode DeadLetterQueue}.
 *
 * @example
 * ```ts
 * import { type DeadLetterQueueOptions, MemoryStore } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: DeadLetterQueueOptions = {
 *   urls: ["amqp://guest:guest@localhost:5672"],
 *   queue: "domain-events.dead-letter",
 *   store: new MemoryStore({ maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" }),
 *   publishTimeout: 10_000,
 *   logger: console,
 * };
 * ```
 */
export interface DeadLetterQueueOptions {
  /** Broker URLs, tried in turn. */
  urls: readonly string[];
  /** The broker's dead-letter queue, for example `domain-events.dead-letter`. */
  queue: string;
  /** The store holding local dead letters, if any. */
  store?: PendingStore;
  /**
   * Longest wait for the confirm of one replayed message, in ms.
   * @default {30000}
   */
  publishTimeout?: number;
  /** Where to log. @default {quietLogger} */
  logger?: Logger;
}

/**
 * Options of {@linkcode DeadLetterQueue.list}.
 *
 * @example
 * ```ts
 * import type { ListDeadLettersOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: ListDeadLettersOptions = { limit: 20 };
 * ```
 */
export interface ListDeadLettersOptions {
  /**
   * The most dead letters to return, local ones first.
   * @default {100}
   */
  limit?: number;
}

/**
 * Counts of {@linkcode DeadLetterQueue.count}.
 *
 * @example
 * ```ts
 * import type { DeadLetterCount } from "@simplycaster/rabbitmq-publisher";
 *
 * const count: DeadLetterCount = { local: 2, broker: 40, total: 42 };
 * ```
 */
export interface DeadLetterCount {
  /** Dead letters held in the local store. */
  local: number;
  /** Messages in the broker's dead-letter queue. */
  broker: number;
  /** Both together. */
  total: number;
}

/**
 * Options of {@linkcode DeadLetterQueue.replay}.
 *
 * @example
 * ```ts
 * import type { ReplayOptions } from "@simplycaster/rabbitmq-publisher";
 *
 * const options: ReplayOptions = {
 *   onProgress: (done, total) => console.error(`replayed ${done}/${total}`),
 * };
 * ```
 */
export interface ReplayOptions {
  /**
   * Called after each chunk: `done` dead letters of `total` examined so far
   * (replayed, failed, or passed over as not selected). `total` counts the
   * local dead letters and the broker queue's depth when the replay began.
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * What {@linkcode DeadLetterQueue.replay} did.
 *
 * @example
 * ```ts
 * import type { ReplayResult } from "@simplycaster/rabbitmq-publisher";
 *
 * const result: ReplayResult = {
 *   replayed: ["evt-1", "evt-2"],
 *   failed: [{ id: "evt-3", error: "not found in the dead letters" }],
 * };
 * ```
 */
export interface ReplayResult {
  /** Ids of the dead letters republished (confirmed) and removed from the dead letters. */
  replayed: string[];
  /** Dead letters that stay where they were, with why (credentials masked). */
  failed: { id: string; error: string }[];
}

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
 * import { deadLetterHeaders } from "@simplycaster/rabbitmq-publisher";
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
const BROKER_DEATH_HEADER = /^x-(death|first-death-|last-death-)/;
const REASONS: readonly string[] = [
  "max-retries",
  "unroutable",
  "access-refused",
  "precondition-failed",
  "too-large",
  "rejected",
  "expired",
  "evicted",
] satisfies DeadLetterReason[];

// At most this many broker messages are read (and held unacknowledged) before
// they are handled, so a queue of any depth is worked through in bounded memory.
const CHUNK = 100;
const NOT_FOUND = 404;

interface LocalEntry {
  letter: DeadLetter;
  seq: number;
}

interface BrokerEntry {
  letter: DeadLetter;
  deliveryTag: number;
}

/**
 * Inspects, replays and purges dead letters: those the publisher still holds
 * locally (in its {@linkcode PendingStore}) and those in the broker's
 * dead-letter queue. It has its own AMQP connection, opened on first use and
 * closed by {@linkcode DeadLetterQueue.close}. Operations run one at a time.
 *
 * @example
 * ```ts ignore
 * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
 *
 * await using dlq = new DeadLetterQueue({
 *   urls: ["amqp://guest:guest@localhost:5672"],
 *   queue: "domain-events.dead-letter",
 * });
 * for (const letter of await dlq.list()) console.log(letter.id, letter.reason);
 * const { replayed, failed } = await dlq.replay();
 * console.log(replayed.length, failed);
 * ```
 */
export class DeadLetterQueue implements AsyncDisposable {
  readonly #urls: readonly string[];
  readonly #queue: string;
  readonly #store: PendingStore | undefined;
  readonly #publishTimeout: number;
  readonly #logger: Logger;
  #client: AMQPClient | undefined;
  #connecting: Promise<AMQPClient> | undefined;
  #exclusive: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * Creates the queue handle; nothing is opened until the first call.
   *
   * @param options The broker URLs, the queue name, the local store and the confirm timeout.
   * @throws {TypeError} When `urls` is not an array or `queue` not a string.
   * @throws {RangeError} When `urls` is empty, `queue` is empty, or
   * `publishTimeout` is not positive.
   *
   * @example
   * ```ts
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * // Nothing connects yet, so this needs no broker.
   * const dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * await dlq.close();
   *
   * try {
   *   new DeadLetterQueue({ urls: [], queue: "app.dead-letter" });
   * } catch (error) {
   *   console.log((error as RangeError).message); // 'urls' must name at least one broker: got 0
   * }
   * ```
   */
  constructor(options: DeadLetterQueueOptions) {
    const { urls, queue, store, publishTimeout = 30_000, logger = quietLogger } = options;
    if (!Array.isArray(urls)) {
      throw new TypeError(`'urls' must be an array of broker URLs: got ${typeof urls}`);
    }
    if (urls.length === 0) throw new RangeError(`'urls' must name at least one broker: got 0`);
    if (typeof queue !== "string") {
      throw new TypeError(`'queue' must be a string: got ${typeof queue}`);
    }
    if (queue === "") throw new RangeError(`'queue' must be a non-empty string: got ""`);
    if (!Number.isFinite(publishTimeout) || publishTimeout <= 0) {
      throw new RangeError(`'publishTimeout' must be a positive number: got ${publishTimeout}`);
    }
    this.#urls = [...urls];
    this.#queue = queue;
    this.#store = store;
    this.#publishTimeout = publishTimeout;
    this.#logger = logger;
  }

  /**
   * Lists dead letters without removing any: local ones first, then broker
   * ones, read without acknowledgement and put back in place.
   *
   * @param options How many to list at most.
   * @returns The dead letters, local first, each oldest first.
   * @throws {RangeError} When `limit` is not a non-negative integer.
   * @throws {Error} When no broker answers, or the closed handle is used (credentials masked).
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const letters = await dlq.list({ limit: 20 });
   * console.table(letters.map(({ id, reason, location }) => ({ id, reason, location })));
   * ```
   */
  list(options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    const { limit = 100 } = options;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      return Promise.reject(
        new RangeError(`'limit' must be a non-negative integer: got ${limit}`),
      );
    }
    return this.#exclusively(async () => {
      const found = (await this.#localEntries(limit)).map((entry) => entry.letter);
      if (found.length < limit) {
        await this.#scanBroker(limit - found.length, (chunk) => {
          for (const entry of chunk) found.push(entry.letter);
          return Promise.resolve();
        });
      }
      return found;
    });
  }

  /**
   * Counts the dead letters, locally and in the broker queue (by a passive
   * declare; a queue that does not exist yet counts 0).
   *
   * @returns The counts.
   * @throws {Error} When no broker answers, or the closed handle is used (credentials masked).
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const { local, broker, total } = await dlq.count();
   * console.log(`${total} dead letters (${local} local, ${broker} in the broker queue)`);
   * ```
   */
  count(): Promise<DeadLetterCount> {
    return this.#exclusively(async () => {
      const local = this.#store?.stats().deadLetters ?? 0;
      const broker = await this.#brokerDepth();
      return { local, broker, total: local + broker };
    });
  }

  /**
   * Republishes dead letters to their original exchange and routing key,
   * with their original properties and their own headers (the dead-letter and
   * error headers dropped, so the attempt count starts afresh), on a confirm
   * channel with `mandatory`. A dead letter is removed only after its confirm:
   * one that is still unroutable, refused or unconfirmed stays where it was
   * and is reported in `failed`. Requested ids that were not found are
   * reported in `failed` too.
   *
   * The broker queue is read once through, in chunks of 100, so a deep queue
   * is replayed in bounded memory; dead letters arriving meanwhile wait for
   * the next replay.
   *
   * @param ids The event ids to replay; all dead letters when omitted.
   * @param options A progress callback.
   * @returns The ids replayed and the failures.
   * @throws {Error} When no broker answers, the connection is lost, or the closed
   * handle is used (credentials masked). Dead letters not yet confirmed stay.
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const { replayed, failed } = await dlq.replay(["evt-1"], {
   *   onProgress: (done, total) => console.error(`${done}/${total}`),
   * });
   * for (const { id, error } of failed) console.error(`${id}: ${error}`);
   * console.log(replayed); // ["evt-1"] when it was found and confirmed
   * ```
   */
  replay(ids?: readonly string[], options: ReplayOptions = {}): Promise<ReplayResult> {
    const selected = ids === undefined ? undefined : new Set(ids);
    const { onProgress } = options;
    return this.#exclusively(async () => {
      const result: ReplayResult = { replayed: [], failed: [] };
      const local = await this.#localEntries(Infinity);
      const total = local.length + await this.#brokerDepth();
      let done = 0;
      const client = await this.#connect();
      const publisher = new ReplayPublisher(client, this.#publishTimeout);
      try {
        for (let i = 0; i < local.length; i += CHUNK) {
          const chunk = local.slice(i, i + CHUNK);
          const chosen = chunk.filter((entry) => selected?.has(entry.letter.id) ?? true);
          const errors = await publisher.publish(chosen.map((entry) => entry.letter));
          const confirmed = chosen.filter((_, j) => errors[j] === undefined);
          await this.#store!.removeDeadLetters(confirmed.map((entry) => entry.seq));
          record(result, chosen, errors);
          done += chunk.length;
          onProgress?.(done, total);
        }
        await this.#scanBroker(total - local.length, async (chunk, channel) => {
          const chosen = chunk.filter((entry) => selected?.has(entry.letter.id) ?? true);
          const errors = await publisher.publish(chosen.map((entry) => entry.letter));
          for (let j = 0; j < chosen.length; j++) {
            if (errors[j] === undefined) await channel.basicAck(chosen[j].deliveryTag);
          }
          record(result, chosen, errors);
          done += chunk.length;
          onProgress?.(done, Math.max(total, done));
        });
      } finally {
        await publisher.close();
      }
      if (selected !== undefined) {
        const seen = new Set([...result.replayed, ...result.failed.map((f) => f.id)]);
        for (const id of selected) {
          if (!seen.has(id)) result.failed.push({ id, error: "not found in the dead letters" });
        }
      }
      for (const { id, error } of result.failed) {
        this.#logger.warn(`dead letter ${id} was not replayed: ${error}`);
      }
      return result;
    });
  }

  /**
   * Deletes dead letters for good, broker ones and then local ones: when the
   * broker fails, the call rejects with nothing deleted locally.
   *
   * @param ids The event ids to delete; all dead letters when omitted.
   * @returns How many dead letters were deleted.
   * @throws {Error} When no broker answers, the connection is lost, or the closed
   * handle is used (credentials masked).
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const deleted = await dlq.purge(["evt-1", "evt-2"]);
   * console.log(`purged ${deleted}`);
   * ```
   */
  purge(ids?: readonly string[]): Promise<number> {
    const selected = ids === undefined ? undefined : new Set(ids);
    return this.#exclusively(async () => {
      // The broker goes first: when it fails, nothing at all is deleted.
      let broker = 0;
      if (selected === undefined) {
        broker = await this.#onChannel(async (channel) => {
          if (!await queueExists(channel, this.#queue)) return 0;
          const { messageCount } = await channel.queuePurge(this.#queue);
          return messageCount;
        });
      } else {
        await this.#scanBroker(await this.#brokerDepth(), async (chunk, channel) => {
          for (const entry of chunk) {
            if (!selected.has(entry.letter.id)) continue;
            await channel.basicAck(entry.deliveryTag);
            broker++;
          }
        });
      }
      const local = (await this.#localEntries(Infinity))
        .filter((entry) => selected?.has(entry.letter.id) ?? true);
      if (local.length > 0) await this.#store!.removeDeadLetters(local.map((entry) => entry.seq));
      const deleted = local.length + broker;
      if (deleted > 0) this.#logger.info(`purged ${deleted} dead letters`);
      return deleted;
    });
  }

  /**
   * Waits for the running operation, then closes the connection; the handle
   * cannot be used afterwards. Calling it again does nothing.
   *
   * @returns Resolves once closed.
   *
   * @example
   * ```ts
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * const dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * await dlq.close();
   * await dlq.count().catch((error) => console.log(error.message));
   * // the dead-letter queue handle is closed
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#exclusive.catch(() => {});
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    this.#client = undefined;
    if (client !== undefined && !client.closed) {
      await client.close().catch(() => {});
    }
  }

  /**
   * Closes the connection, for `await using`: the same as {@linkcode DeadLetterQueue.close}.
   *
   * @returns Resolves once closed.
   *
   * @example
   * ```ts
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * {
   *   await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * } // closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ----

  #exclusively<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the dead-letter queue handle is closed"));
    const run = this.#exclusive.then(fn).catch((error: unknown) => {
      throw maskError(error);
    });
    this.#exclusive = run.catch(() => {});
    return run;
  }

  async #localEntries(limit: number): Promise<LocalEntry[]> {
    if (this.#store === undefined || limit <= 0) return [];
    const records = await this.#store.listDeadLetters(limit);
    return records.map((record) => ({ letter: fromRecord(record), seq: record.seq }));
  }

  #brokerDepth(): Promise<number> {
    return this.#onChannel(async (channel) => {
      const ok = await declarePassively(channel, this.#queue);
      return ok?.messageCount ?? 0;
    });
  }

  /**
   * Reads up to `max` messages of the broker queue without acknowledging
   * them, hands them to `handle` a chunk at a time (which may ack some), then
   * closes the channel so that RabbitMQ puts every unacknowledged one back in
   * place. Reading stops at `max`, so messages requeued by others or
   * arriving meanwhile are not read twice.
   */
  async #scanBroker(
    max: number,
    handle: (chunk: BrokerEntry[], channel: AMQPChannel) => Promise<void>,
  ): Promise<void> {
    if (max <= 0) return;
    await this.#onChannel(async (channel) => {
      if (!await queueExists(channel, this.#queue)) return;
      let read = 0;
      let empty = false;
      while (read < max && !empty) {
        const chunk: BrokerEntry[] = [];
        while (chunk.length < CHUNK && read < max) {
          const message = await channel.basicGet(this.#queue, { noAck: false });
          if (message === null) {
            empty = true;
            break;
          }
          read++;
          chunk.push({ letter: fromMessage(message), deliveryTag: message.deliveryTag });
        }
        if (chunk.length > 0) await handle(chunk, channel);
      }
    });
  }

  async #onChannel<T>(fn: (channel: AMQPChannel) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    const channel = await client.channel();
    // A passive declare of a missing queue closes the channel; that is an answer, not an error.
    channel.onerror = () => {};
    try {
      return await fn(channel);
    } finally {
      if (!channel.closed) await channel.close().catch(() => {});
    }
  }

  #connect(): Promise<AMQPClient> {
    if (this.#client !== undefined && !this.#client.closed) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => this.#connecting = undefined);
    return this.#connecting;
  }

  async #open(): Promise<AMQPClient> {
    const failures: string[] = [];
    for (const url of this.#urls) {
      const target = new URL(url);
      if (!target.searchParams.has("name")) {
        target.searchParams.set("name", "rabbitmq-publisher-dlq");
      }
      const client = new AMQPClient(target.toString());
      guardClient(client);
      client.onerror = (error) => {
        this.#logger.warn(`dead-letter queue connection closed: ${maskCredentials(error.message)}`);
      };
      try {
        await deadline(
          client.connect(),
          10_000,
          () => new Error("connection attempt timed out after 10000 ms"),
        );
        this.#client = client;
        this.#logger.info(`dead-letter queue connected to ${maskUrl(url)}`);
        return client;
      } catch (error) {
        client.socket?.destroy();
        failures.push(`${maskUrl(url)}: ${maskCredentials(errorMessage(error))}`);
      }
    }
    throw new Error(`no RabbitMQ broker answered: ${failures.join("; ")}`);
  }
}

/**
 * Publishes dead letters back to their original exchanges on a confirm
 * channel with `mandatory`, reopening the channel when the broker closes it
 * (for example for an exchange that no longer exists).
 */
class ReplayPublisher {
  readonly #client: AMQPClient;
  readonly #timeoutMs: number;
  #channel: AMQPChannel | undefined;
  // message id -> why the broker returned it; set before the confirm arrives
  readonly #returned = new Map<string, string>();

  constructor(client: AMQPClient, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Publishes each letter; resolves to `undefined` (confirmed) or an error text per letter. */
  async publish(letters: readonly DeadLetter[]): Promise<(string | undefined)[]> {
    const errors: (string | undefined)[] = new Array(letters.length).fill(undefined);
    let pending = letters.map((_, i) => i);
    // Returns are matched by message id, so one wave never holds the same id twice.
    while (pending.length > 0) {
      const wave: number[] = [];
      const later: number[] = [];
      const ids = new Set<string>();
      for (const i of pending) {
        const key = letters[i].properties.messageId ?? "";
        if (ids.has(key)) later.push(i);
        else ids.add(key), wave.push(i);
      }
      const channel = await this.#open();
      await Promise.all(wave.map(async (i) => {
        errors[i] = await this.#publishOne(channel, letters[i]);
      }));
      pending = later;
    }
    return errors;
  }

  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined && !channel.closed) await channel.close().catch(() => {});
  }

  async #publishOne(channel: AMQPChannel, letter: DeadLetter): Promise<string | undefined> {
    const key = letter.properties.messageId ?? "";
    const { timestamp, ...properties } = letter.properties;
    const sent = channel.basicPublish(
      letter.originalExchange,
      letter.originalRoutingKey,
      letter.body,
      {
        ...properties,
        headers: properties.headers as Record<string, string>,
        timestamp: timestamp === undefined ? undefined : new Date(timestamp),
      },
      true,
    );
    try {
      await deadline(
        sent,
        this.#timeoutMs,
        () => new Error(`no publisher confirm within ${this.#timeoutMs} ms`),
      );
    } catch (error) {
      sent.catch(() => {}); // settles when the channel closes; the outcome is already reported
      this.#returned.delete(key);
      return maskCredentials(errorMessage(error));
    }
    const returned = this.#returned.get(key);
    if (returned === undefined) return undefined;
    this.#returned.delete(key);
    return returned;
  }

  async #open(): Promise<AMQPChannel> {
    if (this.#channel !== undefined && !this.#channel.closed) return this.#channel;
    const channel = await this.#client.channel();
    channel.onerror = () => {}; // each pending publish reports the closing reason itself
    await channel.confirmSelect();
    treatNacksAsMultiple(channel);
    channel.onReturn = (message) => {
      this.#returned.set(
        message.properties.messageId ?? "",
        `unroutable: exchange ${JSON.stringify(message.exchange)} has no queue bound for ` +
          `routing key ${JSON.stringify(message.routingKey)} ` +
          `(${message.replyText ?? "NO_ROUTE"})`,
      );
    };
    this.#channel = channel;
    return channel;
  }
}

function record(
  result: ReplayResult,
  entries: readonly { letter: DeadLetter }[],
  errors: readonly (string | undefined)[],
): void {
  entries.forEach(({ letter }, i) => {
    const error = errors[i];
    if (error === undefined) result.replayed.push(letter.id);
    else result.failed.push({ id: letter.id, error });
  });
}

/** A passive declare: the queue's counts, or `undefined` when it does not exist. */
async function declarePassively(
  channel: AMQPChannel,
  queue: string,
): Promise<{ messageCount: number } | undefined> {
  try {
    return await channel.queueDeclare(queue, { passive: true });
  } catch (error) {
    if (errorMessage(error).includes(`(${NOT_FOUND})`) || /NOT_FOUND/.test(errorMessage(error))) {
      return undefined;
    }
    throw error;
  }
}

/** Whether the queue exists; when it does not, the broker has closed `channel`. */
async function queueExists(channel: AMQPChannel, queue: string): Promise<boolean> {
  return await declarePassively(channel, queue) !== undefined;
}

function fromRecord(record: DeadLetterRecord): DeadLetter {
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

function fromMessage(message: AMQPMessage): DeadLetter {
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
    reason: reason !== undefined && REASONS.includes(reason)
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

/** The event's own headers: without what dead-lettering added. */
function ownHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) =>
      !DEAD_LETTER_HEADERS.has(name) && !BROKER_DEATH_HEADER.test(name)
    ),
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error with credentials masked; the original is dropped when it held any. */
function maskError(error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  const message = maskCredentials(e.message);
  if (message === e.message) return e;
  const masked = new Error(message);
  masked.name = e.name;
  return masked;
}
