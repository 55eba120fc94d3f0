// The dead-letter exchange and queue, declared apart from the connect path:
// on channels of their own, when the first dead letter is about to go out on
// a connection. An exchange or queue that exists with other arguments is used
// as it is, with one warning. One that cannot be reached (a classic queue
// whose home node is down, a queue another connection holds exclusively)
// fails only the dead letters, which then wait in the local store: normal
// publishing never waits for the dead-letter queue.

import type { AMQPChannel, AMQPClient } from "@cloudamqp/amqp-client";
import { deadline } from "../_async.ts";
import type { DeadLetterQueueType } from "../config/types.ts";
import type { Logger } from "../logger.ts";
import { onChannel } from "./_connection.ts";
import { replyCodeIn, toError } from "./_errors.ts";

/** Where dead letters go: a fanout exchange and the queue bound to it. */
export interface DeadLetterTarget {
  /** The dead-letter exchange (durable, fanout). */
  exchange: string;
  /** The dead-letter queue (durable), bound to it. */
  queue: string;
  /** The queue's type when it is created. @default {"quorum"} */
  queueType?: DeadLetterQueueType;
}

const PRECONDITION_FAILED = 406;
// list() reads dead letters and hands them back to the queue. A quorum queue
// counts each return, and from RabbitMQ 4.0 drops a message after 20 of them
// unless told otherwise; -1 ("no limit" on 4.x) drops at once on 3.x, so the
// limit is the largest AMQP signed 32-bit integer instead.
const UNLIMITED_DELIVERIES = 2 ** 31 - 1;

/**
 * Declares the dead-letter topology at most once per connection, and says
 * why it could not when it could not.
 */
export class DeadLetterTopology {
  readonly target: DeadLetterTarget;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  // Per connection: the declaration under way or done; a failed one is forgotten.
  readonly #declared = new WeakMap<AMQPClient, Promise<Error | undefined>>();
  // Mismatches already warned about, so a reconnect does not warn again.
  readonly #warned = new Set<string>();

  constructor(target: DeadLetterTarget, logger: Logger, timeoutMs: number) {
    this.target = target;
    this.#logger = logger;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Makes sure the exchange and queue exist and are bound, on `client`.
   *
   * @returns `undefined` when dead letters can be published, else why not
   * (the broker's words, credentials masked).
   */
  ensure(client: AMQPClient): Promise<Error | undefined> {
    let declared = this.#declared.get(client);
    if (declared === undefined) {
      declared = this.#declare(client).then(
        () => undefined,
        (cause) => {
          this.#declared.delete(client);
          const error = toError(cause);
          this.#logger.warn(
            `the dead-letter queue ${JSON.stringify(this.target.queue)} cannot be declared: ` +
              `${error.message}; dead letters wait locally, other events are not held up`,
          );
          return error;
        },
      );
      this.#declared.set(client, declared);
    }
    return declared;
  }

  async #declare(client: AMQPClient): Promise<void> {
    const { exchange, queue, queueType = "quorum" } = this.target;
    const args: Record<string, string | number> = queueType === "classic"
      ? {}
      : { "x-queue-type": queueType };
    if (queueType === "quorum") args["x-delivery-limit"] = UNLIMITED_DELIVERIES;
    await deadline(
      (async () => {
        await this.#declareOrAccept(
          client,
          "exchange",
          (ch) => ch.exchangeDeclare(exchange, "fanout", { durable: true }),
          (ch) => ch.exchangeDeclare(exchange, "fanout", { passive: true }),
          (text) =>
            `the dead-letter exchange ${JSON.stringify(exchange)} exists with other settings ` +
            `than a durable fanout exchange (${text}); it is used as it is`,
        );
        await this.#declareOrAccept(
          client,
          "queue",
          (ch) => ch.queueDeclare(queue, { durable: true }, args),
          (ch) => ch.queueDeclare(queue, { passive: true }),
          (text) =>
            `the dead-letter queue ${JSON.stringify(queue)} exists with other arguments than a ` +
            `durable ${queueType} queue (${text}); it is used as it is (to change its type, ` +
            `move its letters elsewhere and delete it, or set deadLetterQueueType to match)`,
        );
        await onChannel(client, (ch) => ch.queueBind(queue, exchange, ""));
      })(),
      this.#timeoutMs,
      () => new Error(`declaring it took longer than ${this.#timeoutMs} ms`),
    );
  }

  /** Declares; on 406 PRECONDITION_FAILED, checks passively that it exists and warns once. */
  async #declareOrAccept(
    client: AMQPClient,
    what: string,
    declare: (channel: AMQPChannel) => Promise<unknown>,
    passive: (channel: AMQPChannel) => Promise<unknown>,
    mismatch: (brokerText: string) => string,
  ): Promise<void> {
    try {
      await onChannel(client, declare);
    } catch (cause) {
      const error = toError(cause);
      if (replyCodeIn(error.message) !== PRECONDITION_FAILED) throw error;
      await onChannel(client, passive);
      if (!this.#warned.has(what)) {
        this.#warned.add(what);
        this.#logger.warn(mismatch(error.message));
      }
    }
  }
}
