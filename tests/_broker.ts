// Test helpers for the real RabbitMQ at 127.0.0.1:5672: a fresh exchange with
// a consumer that records everything routed to it, removed afterwards.

import { type AMQPChannel, AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { brokerProblem } from "../examples/_preflight.ts";
import { maskUrl } from "../src/_mask.ts";
import type { RabbitMQAsyncEventPublisher } from "../mod.ts";
import { poll, until } from "./_wait.ts";

export const BROKER_URL = Deno.env.get("TEST_RABBITMQ_URL") ?? "amqp://guest:guest@127.0.0.1:5672";

// Without a broker, every test that needs one would fail on its own with a
// connection stack trace. Instead, the run reports one failure whose message
// says why and what to do, and the tests of each file that imports this
// helper are registered as ignored (Deno.test is replaced by
// Deno.test.ignore in that file's isolate, before its tests register). The
// outcome is kept in the environment, which every test file's isolate shares:
// the first file probes and reports, the others skip quietly.
const PREFLIGHT = "RABBITMQ_PUBLISHER_TEST_PREFLIGHT";
let preflight = Deno.env.get(PREFLIGHT);
if (preflight === undefined) {
  const problem = await brokerProblem(BROKER_URL, "TEST_RABBITMQ_URL");
  preflight = problem === undefined ? "ok" : "down";
  Deno.env.set(PREFLIGHT, preflight);
  if (problem !== undefined) {
    Deno.test(`RabbitMQ answers at ${maskUrl(BROKER_URL)}, for the tests that need it`, () => {
      const error = new Error(`${problem}; the tests that need it are ignored`);
      error.stack = error.message;
      throw error;
    });
  }
}
if (preflight !== "ok") {
  const { ignore } = Deno.test;
  Object.defineProperty(Deno, "test", { value: Object.assign(ignore, { ignore, only: ignore }) });
}

/** A message as the test consumer received it. */
/** Reads of a queue that is not there yet: 404, or a quorum queue's 541 "noproc" while it starts. */
const NOT_YET = /\((404|541)\)|noproc/;

export interface Received {
  body: string;
  json: Record<string, unknown>;
  routingKey: string;
  exchange: string;
  properties: AMQPMessage["properties"];
}

/** A unique name for this test's exchange or queue. */
export function uniqueName(prefix = "test"): string {
  return `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * A consumer on a fresh topic exchange (and its dead-letter queue), so each
 * test sees only its own messages.
 */
export class TestConsumer implements AsyncDisposable {
  readonly exchange: string;
  readonly deadLetterExchange: string;
  readonly deadLetterQueue: string;
  readonly messages: Received[] = [];
  #client: AMQPClient;
  readonly #url: string;
  // Dead letters are read on a connection of their own: see drainDeadLetters().
  #deadLetterClient: AMQPClient | undefined;
  #queue = "";
  #waiters: { count: number; resolve: () => void }[] = [];

  private constructor(client: AMQPClient, url: string, exchange: string) {
    this.#client = client;
    this.#url = url;
    this.exchange = exchange;
    this.deadLetterExchange = `${exchange}.dead-letter`;
    this.deadLetterQueue = `${exchange}.dead-letter`;
  }

  /**
   * Declares the exchange, binds a server-named exclusive queue with `bindingKey`
   * (default `#`) and starts consuming, on the shared broker unless `url` names another
   * (a `TcpProxy` in front of it lets a test hold deliveries back).
   */
  static async start(
    options: {
      exchange?: string;
      bindingKey?: string | null;
      queueArgs?: Record<string, unknown>;
      url?: string;
    } = {},
  ): Promise<TestConsumer> {
    const url = options.url ?? BROKER_URL;
    const client = new AMQPClient(url);
    await client.connect();
    const consumer = new TestConsumer(client, url, options.exchange ?? uniqueName("events"));
    const ch = await client.channel();
    await ch.exchangeDeclare(consumer.exchange, "topic", { durable: true });
    if (options.bindingKey !== null) {
      const queue = await ch.queueDeclare(
        "",
        { exclusive: true, autoDelete: true },
        options.queueArgs,
      );
      consumer.#queue = queue.name;
      await ch.queueBind(queue.name, consumer.exchange, options.bindingKey ?? "#");
      await ch.basicConsume(queue.name, { noAck: true }, (msg) => consumer.#receive(msg));
    }
    return consumer;
  }

  get queue(): string {
    return this.#queue;
  }

  #receive(msg: AMQPMessage): void {
    const body = msg.bodyToString() ?? "";
    this.messages.push({
      body,
      json: JSON.parse(body),
      routingKey: msg.routingKey,
      exchange: msg.exchange,
      properties: msg.properties,
    });
    this.#waiters = this.#waiters.filter((w) => {
      if (this.messages.length < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when at least `count` messages arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 20_000): Promise<Received[]> {
    if (this.messages.length < count) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#waiters.push({ count, resolve });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `expected ${count} messages, got ${this.messages.length} in ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        await Promise.race([promise, timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
    return this.messages;
  }

  /**
   * Waits until a message with each of `ids` has arrived, or `timeoutMs`
   * passed. Neither a message count (some may arrive twice) nor an empty
   * publisher store proves that: RabbitMQ sends the publisher's confirm and
   * this consumer's delivery on two connections, and under load the confirm
   * comes first by tens of milliseconds or more.
   *
   * @returns The ids still missing, in the order given; none when all arrived.
   */
  async waitForIds(ids: readonly string[], timeoutMs = 10_000): Promise<string[]> {
    const missing = () => {
      const seen = new Set(this.messages.map((m) => m.properties.messageId));
      return ids.filter((id) => !seen.has(id));
    };
    await poll(() => missing().length === 0, timeoutMs);
    return missing();
  }

  /**
   * Reads (and acknowledges) every message in the dead-letter queue; none
   * while the publisher has not declared it yet.
   */
  async drainDeadLetters(): Promise<Received[]> {
    const ch = await this.#deadLetterChannel();
    const found: Received[] = [];
    try {
      for (;;) {
        const msg = await ch.basicGet(this.deadLetterQueue, { noAck: true });
        if (!msg) break;
        const body = msg.bodyToString() ?? "";
        found.push({
          body,
          json: JSON.parse(body),
          routingKey: msg.routingKey,
          exchange: msg.exchange,
          properties: msg.properties,
        });
      }
    } catch (error) {
      // Not there yet. 404: not declared; the broker closed the channel.
      // 541 "noproc": a quorum queue declared whose process has not started;
      // the broker closes the whole connection, which is why this one is not
      // the consumer's.
      if (!NOT_YET.test(String(error))) throw error;
    } finally {
      if (!ch.closed) await ch.close().catch(() => {});
    }
    return found;
  }

  /** A channel on the dead-letter connection, opened again after the broker closed it. */
  async #deadLetterChannel(): Promise<AMQPChannel> {
    if (this.#deadLetterClient === undefined || this.#deadLetterClient.closed) {
      const client = new AMQPClient(this.#url);
      await client.connect();
      this.#deadLetterClient = client;
    }
    return await this.#deadLetterClient.channel();
  }

  /** Reads the dead-letter queue until `count` letters came, or fails after `timeoutMs`. */
  async waitForDeadLetters(count: number, timeoutMs = 5_000): Promise<Received[]> {
    const found: Received[] = [];
    await until(
      async () => {
        found.push(...await this.drainDeadLetters());
        return found.length >= count;
      },
      `${count} dead letters in ${this.deadLetterQueue}`,
      timeoutMs,
    );
    return found;
  }

  async close(): Promise<void> {
    try {
      const ch = await this.#client.channel();
      await ch.exchangeDelete(this.exchange);
      await ch.exchangeDelete(this.deadLetterExchange).catch(() => {});
      const dl = await this.#deadLetterChannel();
      await dl.queueDelete(this.deadLetterQueue).catch(() => {});
    } finally {
      await this.#deadLetterClient?.close().catch(() => {});
      await this.#client.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Where events that never reached `consumer` went, for a failed assertion:
 * the publisher's counters (a confirmed event counts as published), its dead
 * letters by reason (local and in the broker queue), what is still pending,
 * and what the consumer received.
 */
export async function lossReport(
  publisher: RabbitMQAsyncEventPublisher,
  consumer: TestConsumer,
  missing: readonly string[],
): Promise<string> {
  const stats = publisher.getStats();
  let letters: string;
  try {
    const { letters: found, brokerError } = await publisher.deadLetters.list({ limit: 10_000 });
    const byReason = new Map<string, { count: number; amongMissing: number; error?: string }>();
    for (const letter of found) {
      const entry = byReason.get(letter.reason) ??
        { count: 0, amongMissing: 0, error: letter.errorMessage };
      entry.count++;
      if (missing.includes(letter.id)) entry.amongMissing++;
      byReason.set(letter.reason, entry);
    }
    letters = [...byReason].map(([reason, { count, amongMissing, error }]) =>
      `${reason}: ${count}, ${amongMissing} of them missing` + (error ? ` (${error})` : "")
    ).join("; ") || "none";
    if (brokerError !== undefined) {
      letters += `; the broker's queue not readable: ${brokerError}`;
    }
  } catch (error) {
    letters = `not readable: ${(error as Error).message}`;
  }
  const distinct = new Set(consumer.messages.map((m) => m.properties.messageId)).size;
  const events = missing.length === 1 ? "event" : "events";
  return `${missing.length} ${events} never arrived (first: ${missing.slice(0, 5).join(", ")}); ` +
    `publisher: ${stats.publishedEvents} confirmed, ${stats.failedEvents} failed attempts, ` +
    `${stats.retriedEvents} retried, ${stats.deadLetteredEvents} dead-lettered ` +
    `(dead letters: ${letters}), ${stats.bufferStats.size} still pending; ` +
    `consumer: ${consumer.messages.length} messages, ${distinct} distinct ids`;
}

/**
 * Asserts that a message with each of `ids` reaches `consumer` within
 * `timeoutMs`; if one does not, the error says where they went ({@linkcode lossReport}).
 */
export async function assertAllArrive(
  publisher: RabbitMQAsyncEventPublisher,
  consumer: TestConsumer,
  ids: readonly string[],
  timeoutMs = 10_000,
): Promise<void> {
  const missing = await consumer.waitForIds(ids, timeoutMs);
  if (missing.length > 0) throw new Error(await lossReport(publisher, consumer, missing));
}

/** A domain event for tests. */
export function testEvent(
  n: number,
  priority: "high" | "normal" | "low" = "normal",
  type = "test.happened",
) {
  return {
    id: `evt-${n}-${crypto.randomUUID().slice(0, 6)}`,
    type,
    version: "1.0",
    timestamp: new Date(),
    data: { n },
    metadata: { source: "tests", priority, correlationId: `corr-${n}` },
  };
}
