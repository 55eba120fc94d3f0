// The broker side of the dead letters: the dead-letter queue on a connection
// of its own (opened on first use through src/amqp), its depth, a read
// through it without acknowledgement, its purge, and the republishing of dead
// letters to their original exchanges on a confirm channel.

import type { AMQPChannel, AMQPClient, Field } from "@cloudamqp/amqp-client";
import { delay } from "../_async.ts";
import { maskUrl } from "../_mask.ts";
import { ConfirmChannel } from "../amqp/_confirm_channel.ts";
import { closeQuietly, connect, connectLoop, onChannel } from "../amqp/_connection.ts";
import { NodeOrder } from "../amqp/_node_order.ts";
import { isNotFound, toError } from "../amqp/_errors.ts";
import type { Logger } from "../logger.ts";
import type { DeadLetter } from "./dead_letter.ts";
import { fromMessage } from "./_headers.ts";

/**
 * At most this many broker messages are read (and held unacknowledged)
 * before they are handled, so a queue of any depth is worked through in
 * bounded memory.
 */
export const CHUNK = 100;

// How long, and how often, a scan waits for the queue to take its messages back.
const RETURNS_SETTLE_MS = 3_000;
const RETURNS_POLL_MS = 25;

/** A dead letter read from the queue and not acknowledged yet. */
export interface BrokerEntry {
  letter: DeadLetter;
  deliveryTag: number;
}

/** Republishes dead letters: per letter, `undefined` when confirmed, else why not (masked). */
export type Republish = (letters: readonly DeadLetter[]) => Promise<(string | undefined)[]>;

/** The broker's dead-letter queue, on a connection of its own. */
export class BrokerQueue {
  readonly #urls: readonly string[];
  readonly #queue: string;
  readonly #logger: Logger;
  #client: AMQPClient | undefined;
  #connecting: Promise<AMQPClient> | undefined;

  constructor(urls: readonly string[], queue: string, logger: Logger) {
    this.#urls = urls;
    this.#queue = queue;
    this.#logger = logger;
  }

  /** The queue's depth by a passive declare; 0 when it does not exist yet. */
  depth(): Promise<number> {
    return this.#onChannel(async (channel) => {
      const ok = await declarePassively(channel, this.#queue);
      return ok?.messageCount ?? 0;
    });
  }

  /** Deletes every message of the queue; resolves to how many there were. */
  purge(): Promise<number> {
    return this.#onChannel(async (channel) => {
      if (!await queueExists(channel, this.#queue)) return 0;
      const { messageCount } = await channel.queuePurge(this.#queue);
      return messageCount;
    });
  }

  /**
   * Reads up to `max` messages of the queue without acknowledging them and
   * hands them to `handle` a chunk at a time (which may `ack` some: they are
   * acknowledged when it returns). Then RabbitMQ puts every unacknowledged
   * one back in place, and the scan waits until it has. Reading stops at
   * `max` or when the queue answers empty; what it read stays with the scan
   * until then, so nothing is read twice.
   */
  async scan(
    max: number,
    handle: (chunk: BrokerEntry[], ack: (deliveryTag: number) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    if (max <= 0) return;
    await this.#onChannel(async (channel) => {
      if (!await queueExists(channel, this.#queue)) return;
      let read = 0;
      // Read and not acknowledged, so far.
      let held = 0;
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
        if (chunk.length === 0) break;
        const acked: number[] = [];
        await handle(chunk, (deliveryTag) => {
          acked.push(deliveryTag);
          return Promise.resolve();
        });
        // A quorum queue applies acks in the background and drops the ones
        // still waiting when the channel closes: one `multiple` ack for a
        // whole chunk keeps them few.
        if (held === 0 && acked.length === chunk.length) {
          await channel.basicAck(chunk[chunk.length - 1].deliveryTag, true);
        } else {
          for (const deliveryTag of acked) await channel.basicAck(deliveryTag);
        }
        held += chunk.length - acked.length;
      }
      if (held > 0) await this.#giveBack(channel, held);
    });
  }

  /**
   * Puts the channel's `held` unacknowledged messages back (`basic.recover`)
   * and waits, for a moment at most, until the queue counts them again. A
   * quorum queue takes them back in the background: a scan right after
   * would see too few, and closing the channel at once could lose the acks
   * sent before (they are applied in order with the return).
   */
  async #giveBack(channel: AMQPChannel, held: number): Promise<void> {
    const expected = await this.depth() + held;
    await channel.basicRecover(true);
    const until = Date.now() + RETURNS_SETTLE_MS;
    while (await this.depth() < expected && Date.now() < until) await delay(RETURNS_POLL_MS);
  }

  /**
   * Runs `fn` with a function that republishes dead letters to their original
   * exchanges and routing keys, on one confirm channel that is reopened when
   * the broker closed it (for example for an exchange that no longer exists).
   */
  async republishing<T>(timeoutMs: number, fn: (republish: Republish) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    let confirm: ConfirmChannel | undefined;
    const channel = async () => {
      if (confirm === undefined || confirm.closed) confirm = await ConfirmChannel.open(client);
      return confirm;
    };
    try {
      return await fn((letters) => republish(channel, letters, timeoutMs));
    } finally {
      await confirm?.close();
    }
  }

  /** Closes the connection (waiting for one being opened). */
  async close(): Promise<void> {
    const client = this.#client ?? await this.#connecting?.catch(() => undefined);
    this.#client = undefined;
    if (client !== undefined) await closeQuietly(client);
  }

  async #onChannel<T>(fn: (channel: AMQPChannel) => Promise<T>): Promise<T> {
    return await onChannel(await this.#connect(), fn);
  }

  #connect(): Promise<AMQPClient> {
    if (this.#client !== undefined && !this.#client.closed) return Promise.resolve(this.#client);
    this.#connecting ??= this.#open().finally(() => this.#connecting = undefined);
    return this.#connecting;
  }

  async #open(): Promise<AMQPClient> {
    const failures: string[] = [];
    const options = {
      connectionName: "rabbitmq-publisher-dlq",
      connectTimeout: 10_000,
      prepare: (client: AMQPClient) => {
        client.onerror = (error) => {
          this.#logger.warn(`dead-letter queue connection closed: ${toError(error).message}`);
        };
      },
    };
    const connected = await connectLoop(
      this.#urls,
      new NodeOrder(this.#urls.length, 0),
      (url) => connect(url, options, (client) => Promise.resolve(client)),
      {
        onFailure: (url, error) => failures.push(`${url}: ${error.message}`),
        onRoundFailed: () =>
          Promise.reject(new Error(`no RabbitMQ broker answered: ${failures.join("; ")}`)),
      },
    );
    // Without a signal, the loop ends only by connecting or by the rejection above.
    const { value: client, index } = connected!;
    this.#client = client;
    this.#logger.info(`dead-letter queue connected to ${maskUrl(this.#urls[index])}`);
    return client;
  }
}

/** A passive declare: the queue's counts, or `undefined` when it does not exist. */
async function declarePassively(
  channel: AMQPChannel,
  queue: string,
): Promise<{ messageCount: number } | undefined> {
  try {
    return await channel.queueDeclare(queue, { passive: true });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Whether the queue exists; when it does not, the broker has closed `channel`. */
async function queueExists(channel: AMQPChannel, queue: string): Promise<boolean> {
  return await declarePassively(channel, queue) !== undefined;
}

async function republish(
  channel: () => Promise<ConfirmChannel>,
  letters: readonly DeadLetter[],
  timeoutMs: number,
): Promise<(string | undefined)[]> {
  const errors: (string | undefined)[] = new Array(letters.length).fill(undefined);
  let pending = letters.map((_, i) => i);
  // Each letter is settled by its own delivery tag, whatever the ids. A letter
  // the broker refused by closing the channel fails alone; the others lost
  // with that channel were not refused, and go again on a new one.
  while (pending.length > 0) {
    const messages = pending.map((i) => {
      const { originalExchange, originalRoutingKey, body, properties } = letters[i];
      const headers = properties.headers as Record<string, Field>;
      return {
        exchange: originalExchange,
        routingKey: originalRoutingKey,
        body,
        properties: { ...properties, headers },
      };
    });
    // A channel the broker closed during the last round is replaced.
    const outcomes = await (await channel()).publish(messages, timeoutMs);
    const again: number[] = [];
    pending.forEach((i, j) => {
      const outcome = outcomes[j];
      if (outcome.ok) return;
      if (outcome.error.kind === "channel-closed") again.push(i);
      else errors[i] = outcome.error.message;
    });
    pending = again;
  }
  return errors;
}
