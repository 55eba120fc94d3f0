// Helpers shared by the examples: the options every example's main() takes,
// the broker config read from the environment, a sample event, and an
// "inbox" that stands in for the services consuming the events.
//
// Not an example itself; it is only imported by them.

import { AMQPClient } from "@cloudamqp/amqp-client";
import {
  type DomainEvent,
  type EventPriority,
  type Logger,
  parseRabbitMQConfig,
  type ResolvedRabbitMQConfig,
} from "../mod.ts";
import { brokerProblem } from "./_preflight.ts";

/** What every example's `main()` accepts, so that tests can run it in isolation. */
export interface ExampleOptions {
  /** The broker URL. Default: `RABBITMQ_URL`, or the library's default (localhost). */
  url?: string;
  /** The exchange to publish to. Default: the example's own, such as `examples.basic`. */
  exchange?: string;
  /** Where the example prints. Default: `console.log`. */
  log?: (line: string) => void;
}

/**
 * Reads the connection config from the `RABBITMQ_*` variables with
 * `parseRabbitMQConfig()`, except for the exchange, which is the example's own
 * so that a demo never publishes into a real application's exchange.
 * `options.url` wins over `RABBITMQ_URL`.
 */
export function exampleRabbitMQConfig(
  options: ExampleOptions,
  defaultExchange: string,
): ResolvedRabbitMQConfig {
  const overrides: Record<string, string | undefined> = {
    RABBITMQ_URL: options.url,
    RABBITMQ_EXCHANGE: options.exchange ?? defaultExchange,
  };
  return parseRabbitMQConfig({ get: (name) => overrides[name] ?? Deno.env.get(name) });
}

/**
 * Runs an example as a program (`deno run -A examples/basic.ts`). When the
 * `RABBITMQ_*` configuration is invalid, or RabbitMQ does not answer or
 * refuses the login, it prints one line saying what to do and exits with 1,
 * instead of a stack trace from deep in the connection.
 */
export async function runExample(main: (options?: ExampleOptions) => Promise<void>): Promise<void> {
  let problem: string | undefined;
  try {
    const { urls } = exampleRabbitMQConfig({}, "examples");
    for (const url of urls) {
      problem = await brokerProblem(url, "RABBITMQ_URL");
      if (problem === undefined) break;
    }
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  if (problem !== undefined) {
    console.error(problem);
    Deno.exit(1);
  }
  await main();
}

/**
 * Sends the publisher's warnings and errors to the example's output, indented.
 * A message already shown (such as the same reconnection failure every few
 * hundred ms during an outage) is not shown again.
 */
export function exampleLogger(log: (line: string) => void): Logger {
  const shown = new Set<string>();
  const write = (level: string) => (...args: unknown[]) => {
    const line = `    [publisher ${level}] ${args.map(String).join(" ")}`;
    if (shown.has(line)) return;
    shown.add(line);
    log(line);
  };
  return { debug: () => {}, info: () => {}, warn: write("warn"), error: write("error") };
}

/** A domain event shaped like SimplyCaster's. */
export function sampleEvent<T>(
  type: string,
  data: T,
  priority: EventPriority = "normal",
): DomainEvent<T> {
  return {
    id: crypto.randomUUID(),
    type,
    version: "1.0",
    timestamp: new Date(),
    data,
    metadata: { source: "simplycast-examples", priority },
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 50 ms; throws after `timeoutMs`. */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}

/**
 * A consumer standing in for the services downstream: a temporary queue bound
 * to the exchange with `#`, counting what arrives. Without a bound queue the
 * publisher's events would be unroutable and become dead letters (see
 * dead_letters.ts). The queue is exclusive, so RabbitMQ deletes it when the
 * inbox closes.
 */
export class Inbox implements AsyncDisposable {
  readonly #client: AMQPClient;
  readonly #ids = new Set<string>();

  private constructor(client: AMQPClient) {
    this.#client = client;
  }

  /** Connects to `config.urls[0]`, declares the exchange as the publisher does, and binds a queue. */
  static async open(config: ResolvedRabbitMQConfig): Promise<Inbox> {
    const client = new AMQPClient(config.urls[0]);
    await client.connect();
    const inbox = new Inbox(client);
    try {
      const channel = await client.channel();
      await channel.exchangeDeclare(config.exchange, config.exchangeType, { durable: true });
      const queue = await channel.queueDeclare("", { exclusive: true, autoDelete: true });
      await channel.queueBind(queue.name, config.exchange, "#");
      await channel.basicConsume(queue.name, { noAck: true }, (message) => {
        if (message.properties.messageId) inbox.#ids.add(message.properties.messageId);
      });
    } catch (error) {
      await client.close();
      throw error;
    }
    return inbox;
  }

  /** How many distinct events arrived (redeliveries of one event count once). */
  get received(): number {
    return this.#ids.size;
  }

  /** Waits until an event with each of `ids` has arrived. */
  async waitFor(ids: readonly string[], timeoutMs = 10_000): Promise<void> {
    await waitUntil(
      () => ids.every((id) => this.#ids.has(id)),
      `${ids.length} events to reach the inbox`,
      timeoutMs,
    );
  }

  /** Closes the connection, unless the broker already did; the queue goes with it. */
  async close(): Promise<void> {
    if (!this.#client.closed) await this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
