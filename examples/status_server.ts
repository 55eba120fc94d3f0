/**
 * Status server: serves the publisher's health endpoints, Prometheus metrics
 * and operator page with `createStatusHandler()`, while a trickle of sample
 * events flows so that the page has something to show. Every 25th event has
 * a routing key no queue is bound to, so it becomes a dead letter
 * (`unroutable`) and appears in the page's list.
 *
 * Needs a RabbitMQ broker (`RABBITMQ_URL`, default amqp://guest:guest@localhost:5672).
 *
 * Run it with `deno task status`, then open http://127.0.0.1:9464/ (or
 * `curl 127.0.0.1:9464/metrics`, `/readyz`, `/healthz`). `STATUS_PORT`
 * changes the port. Stop it with Ctrl-C.
 *
 * It publishes to the exchange `examples.status`; its dead letters stay in
 * `examples.status.dead-letter` until purged (`deno task dlq purge`, with
 * `RABBITMQ_EXCHANGE=examples.status`).
 *
 * @module
 */

import { AMQPClient } from "@cloudamqp/amqp-client";
import { createRabbitMQAsyncEventPublisher } from "../mod.ts";
import { createStatusHandler } from "../status.ts";
import {
  exampleLogger,
  type ExampleOptions,
  exampleRabbitMQConfig,
  runExample,
  sampleEvent,
  sleep,
} from "./_common.ts";

/** What the status server example accepts besides the common options. */
export interface StatusServerOptions extends ExampleOptions {
  /** The port to serve on; 0 picks a free one. Default: `STATUS_PORT`, or 9464. */
  port?: number;
  /** Stops the server and the publisher when aborted. Default: Ctrl-C. */
  signal?: AbortSignal;
  /** Called once the server listens. */
  onListen?: (address: Deno.NetAddr) => void;
  /** Sample events published per second. Default: 5. */
  eventsPerSecond?: number;
}

/** Runs the example until `signal` aborts; see the module doc. */
export async function main(options: StatusServerOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  const signal = options.signal ?? ctrlC();
  const port = options.port ?? Number(Deno.env.get("STATUS_PORT") ?? 9464);
  const perSecond = options.eventsPerSecond ?? 5;
  const rabbitMQConfig = exampleRabbitMQConfig(options, "examples.status");
  await using consumer = await OrdersConsumer.open(rabbitMQConfig.urls[0], rabbitMQConfig.exchange);
  await using publisher = await createRabbitMQAsyncEventPublisher(rabbitMQConfig, {
    flushInterval: 200,
  }, { logger: exampleLogger(log) });

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    signal,
    onListen: (address) => {
      log(
        `Serving the status of "${rabbitMQConfig.exchange}" on http://127.0.0.1:${address.port}/`,
      );
      log(`  /healthz, /readyz, /metrics and /status.json are there too. Ctrl-C stops.`);
      options.onListen?.(address);
    },
  }, createStatusHandler(publisher, { title: `Publisher of ${rabbitMQConfig.exchange}` }));

  let n = 0;
  while (!signal.aborted) {
    n++;
    const type = n % 25 === 0 ? "audit.unrouted" : "orders.placed";
    await publisher.publish(sampleEvent(type, { orderId: n }, n % 10 === 0 ? "high" : "normal"));
    await sleep(1000 / perSecond);
  }
  await server.finished;
  const stats = publisher.getStats();
  log(
    `Stopped after ${n} events: ${stats.publishedEvents} confirmed, ` +
      `${stats.deadLetteredEvents} dead-lettered; the consumer received ${consumer.received}.`,
  );
}

/** An AbortSignal that aborts at the first Ctrl-C. */
function ctrlC(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    Deno.removeSignalListener("SIGINT", stop);
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  return controller.signal;
}

/**
 * The downstream service: a temporary queue bound to `orders.#` only, so
 * that the example's other events are unroutable.
 */
class OrdersConsumer implements AsyncDisposable {
  readonly #client: AMQPClient;
  received = 0;

  private constructor(client: AMQPClient) {
    this.#client = client;
  }

  static async open(url: string, exchange: string): Promise<OrdersConsumer> {
    const client = new AMQPClient(url);
    await client.connect();
    const consumer = new OrdersConsumer(client);
    try {
      const channel = await client.channel();
      await channel.exchangeDeclare(exchange, "topic", { durable: true });
      const queue = await channel.queueDeclare("", { exclusive: true, autoDelete: true });
      await channel.queueBind(queue.name, exchange, "orders.#");
      await channel.basicConsume(queue.name, { noAck: true }, () => {
        consumer.received++;
      });
    } catch (error) {
      await client.close();
      throw error;
    }
    return consumer;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#client.closed) await this.#client.close();
  }
}

if (import.meta.main) await runExample(main);
