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

import { Exclusive } from "../_async.ts";
import { toError } from "../amqp/_errors.ts";
import { type Logger, quietLogger } from "../logger.ts";
import type { PendingStore } from "../store/store.ts";
import { BrokerQueue, CHUNK } from "./_broker_queue.ts";
import type { DeadLetter } from "./dead_letter.ts";
import { fromRecord } from "./_headers.ts";
import { mergeLetters } from "./_merge.ts";

export { deadLetterHeaders } from "./_headers.ts";

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
 * What {@linkcode DeadLetterQueue.list} found. While no broker answers, the
 * local dead letters are still listed and `brokerError` says why the broker's
 * are missing.
 *
 * @example
 * ```ts
 * import type { DeadLetterList } from "@simplycaster/rabbitmq-publisher";
 *
 * const during: DeadLetterList = {
 *   letters: [],
 *   brokerAvailable: false,
 *   brokerError: "no RabbitMQ broker answered: amqp://guest:***@localhost:5672: connect ECONNREFUSED",
 * };
 * ```
 */
export interface DeadLetterList {
  /** The dead letters: local first, then the broker's, each once. */
  letters: DeadLetter[];
  /** Whether the broker's queue was read; when not, `letters` holds the local ones only. */
  brokerAvailable: boolean;
  /** Why the broker's queue could not be read (credentials masked). */
  brokerError?: string;
}

/**
 * Counts of {@linkcode DeadLetterQueue.count}. While no broker answers,
 * `broker` and `total` are `null` and `brokerError` says why.
 *
 * @example
 * ```ts
 * import type { DeadLetterCount } from "@simplycaster/rabbitmq-publisher";
 *
 * const count: DeadLetterCount = { local: 2, broker: 40, total: 42 };
 * const duringAnOutage: DeadLetterCount = {
 *   local: 10,
 *   broker: null,
 *   total: null,
 *   brokerError: "no RabbitMQ broker answered: amqp://guest:***@localhost:5672: connect ECONNREFUSED",
 * };
 * ```
 */
export interface DeadLetterCount {
  /** Dead letters held in the local store. */
  local: number;
  /** Messages in the broker's dead-letter queue; `null` when no broker answered. */
  broker: number | null;
  /** Both together; `null` when the broker's part is unknown. */
  total: number | null;
  /** Why the broker's queue could not be read (credentials masked). */
  brokerError?: string;
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

interface LocalEntry {
  letter: DeadLetter;
  seq: number;
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
 * for (const letter of (await dlq.list()).letters) console.log(letter.id, letter.reason);
 * const { replayed, failed } = await dlq.replay();
 * console.log(replayed.length, failed);
 * ```
 */
export class DeadLetterQueue implements AsyncDisposable {
  readonly #broker: BrokerQueue;
  readonly #store: PendingStore | undefined;
  readonly #publishTimeout: number;
  readonly #logger: Logger;
  readonly #exclusive = new Exclusive();
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
    this.#broker = new BrokerQueue([...urls], queue, logger);
    this.#store = store;
    this.#publishTimeout = publishTimeout;
    this.#logger = logger;
  }

  /**
   * Lists dead letters without removing any: local ones first, then broker
   * ones, read without acknowledgement and put back in place. A letter the
   * publisher is moving to the broker sits in both places until the broker's
   * confirm is in and the local copy is deleted: it is listed once, as the
   * broker's (the copies share the id and the dead-letter time). While no
   * broker answers, the local letters are listed all the same.
   *
   * @param options How many to list at most.
   * @returns The dead letters, local first, each oldest first, and whether
   * the broker's queue could be read.
   * @throws {RangeError} When `limit` is not a non-negative integer.
   * @throws {Error} When the local store cannot be read, or the closed handle
   * is used (credentials masked).
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const { letters, brokerError } = await dlq.list({ limit: 20 });
   * console.table(letters.map(({ id, reason, location }) => ({ id, reason, location })));
   * if (brokerError !== undefined) console.warn(`local dead letters only: ${brokerError}`);
   * ```
   */
  list(options: ListDeadLettersOptions = {}): Promise<DeadLetterList> {
    const { limit = 100 } = options;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      return Promise.reject(
        new RangeError(`'limit' must be a non-negative integer: got ${limit}`),
      );
    }
    return this.#exclusively(async () => {
      const local = (await this.#localEntries(limit)).map((entry) => entry.letter);
      const broker: DeadLetter[] = [];
      try {
        // As many as `limit`: local copies of broker letters give way to them.
        await this.#broker.scan(limit, (chunk) => {
          for (const entry of chunk) broker.push(entry.letter);
          return Promise.resolve();
        });
      } catch (error) {
        return { letters: local, brokerAvailable: false, brokerError: toError(error).message };
      }
      return { letters: mergeLetters(local, broker).slice(0, limit), brokerAvailable: true };
    });
  }

  /**
   * Counts the dead letters, locally and in the broker queue (by a passive
   * declare; a queue that does not exist yet counts 0). While no broker
   * answers, the local count is still given, the broker's is `null`.
   *
   * @returns The counts.
   * @throws {Error} When the closed handle is used.
   *
   * @example
   * ```ts ignore
   * import { DeadLetterQueue } from "@simplycaster/rabbitmq-publisher";
   *
   * await using dlq = new DeadLetterQueue({ urls: ["amqp://localhost"], queue: "app.dead-letter" });
   * const { local, broker, total } = await dlq.count();
   * console.log(`${total ?? "?"} dead letters (${local} local, ${broker ?? "?"} in the broker queue)`);
   * ```
   */
  count(): Promise<DeadLetterCount> {
    return this.#exclusively(async () => {
      const local = this.#store?.stats().deadLetters ?? 0;
      try {
        const broker = await this.#broker.depth();
        return { local, broker, total: local + broker };
      } catch (error) {
        return { local, broker: null, total: null, brokerError: toError(error).message };
      }
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
      const total = local.length + await this.#broker.depth();
      let done = 0;
      await this.#broker.republishing(this.#publishTimeout, async (republish) => {
        for (let i = 0; i < local.length; i += CHUNK) {
          const chunk = local.slice(i, i + CHUNK);
          const chosen = chunk.filter((entry) => selected?.has(entry.letter.id) ?? true);
          const errors = await republish(chosen.map((entry) => entry.letter));
          const confirmed = chosen.filter((_, j) => errors[j] === undefined);
          await this.#store!.removeDeadLetters(confirmed.map((entry) => entry.seq));
          record(result, chosen, errors);
          done += chunk.length;
          onProgress?.(done, total);
        }
        await this.#broker.scan(total - local.length, async (chunk, ack) => {
          const chosen = chunk.filter((entry) => selected?.has(entry.letter.id) ?? true);
          const errors = await republish(chosen.map((entry) => entry.letter));
          for (let j = 0; j < chosen.length; j++) {
            if (errors[j] === undefined) await ack(chosen[j].deliveryTag);
          }
          record(result, chosen, errors);
          done += chunk.length;
          onProgress?.(done, Math.max(total, done));
        });
      });
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
        broker = await this.#broker.purge();
      } else {
        await this.#broker.scan(await this.#broker.depth(), async (chunk, ack) => {
          for (const entry of chunk) {
            if (!selected.has(entry.letter.id)) continue;
            await ack(entry.deliveryTag);
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
    await this.#exclusive.settled();
    await this.#broker.close();
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
    return this.#exclusive.run(fn).catch((error: unknown) => {
      throw toError(error);
    });
  }

  async #localEntries(limit: number): Promise<LocalEntry[]> {
    if (this.#store === undefined || limit <= 0) return [];
    const records = await this.#store.listDeadLetters(limit);
    return records.map((record) => ({ letter: fromRecord(record), seq: record.seq }));
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
