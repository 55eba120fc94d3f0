/**
 * {@linkcode createRabbitMQAsyncEventPublisher}: resolves the configuration,
 * opens the pending store (memory, or Deno KV with persistence), builds the
 * transport and the publisher, and connects.
 *
 * @module
 */

import { maskUrl } from "../_mask.ts";
import { AmqpTransport } from "../amqp/amqp_transport.ts";
import { resolveAsyncPublishConfig, resolveRabbitMQConfig } from "../config/resolve.ts";
import type {
  AsyncPublishConfig,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "../config/types.ts";
import { quietLogger } from "../logger.ts";
import { KvStore } from "../store/kv/kv_store.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { PendingStore } from "../store/store.ts";
import { RabbitMQAsyncEventPublisher } from "./publisher.ts";
import type { PublisherOptions } from "./types.ts";

/**
 * Creates a publisher and connects it. When no broker answers, the publisher
 * starts anyway in buffering mode and keeps reconnecting (unless
 * `requireConnection` is set), so a service can start during an outage.
 *
 * @param rabbitMQConfig Where to connect; see {@linkcode RabbitMQConfig}.
 * @param asyncConfig The pipeline's options; see {@linkcode AsyncPublishConfig}.
 * @param options Injected parts (transport, store, logger, clock).
 * @returns The running publisher.
 * @throws {RangeError} When an option is out of range; the message names it.
 * @throws {TypeError} When an option has the wrong type.
 * @throws {StoreLockedError} When another live publisher holds the persistent store.
 * @throws {Error} When `requireConnection` is set and no broker answers.
 *
 * @example
 * ```ts ignore
 * import {
 *   createRabbitMQAsyncEventPublisher,
 *   parseAsyncPublishConfig,
 *   parseRabbitMQConfig,
 * } from "@simplycaster/rabbitmq-publisher";
 *
 * const publisher = await createRabbitMQAsyncEventPublisher(
 *   parseRabbitMQConfig(),
 *   parseAsyncPublishConfig(),
 * );
 * await publisher.close();
 * ```
 */
export async function createRabbitMQAsyncEventPublisher(
  rabbitMQConfig: RabbitMQConfig | ResolvedRabbitMQConfig = {},
  asyncConfig: AsyncPublishConfig = {},
  options: PublisherOptions = {},
): Promise<RabbitMQAsyncEventPublisher> {
  const rabbit = "urls" in rabbitMQConfig
    ? resolveRabbitMQConfig({ ...rabbitMQConfig, url: rabbitMQConfig.urls })
    : resolveRabbitMQConfig(rabbitMQConfig);
  const config = resolveAsyncPublishConfig(asyncConfig);
  const logger = options.logger ?? quietLogger;
  const store = options.store ?? await openStore(config, options.now);
  const transport = options.transport ?? new AmqpTransport({
    urls: rabbit.urls,
    exchange: rabbit.exchange,
    exchangeType: rabbit.exchangeType,
    deadLetter: { exchange: rabbit.deadLetterExchange, queue: rabbit.deadLetterQueue },
    heartbeat: rabbit.heartbeat,
    connectionName: rabbit.connectionName,
    reconnectBaseDelay: rabbit.reconnectBaseDelay,
    reconnectMaxDelay: rabbit.reconnectMaxDelay,
    logger,
  });
  const publisher = new RabbitMQAsyncEventPublisher(rabbit, config, {
    ...options,
    logger,
    transport,
    store,
  });
  const connected = await transport.start();
  if (!connected) {
    if (options.requireConnection) {
      await publisher.close({ timeoutMs: 0 });
      throw new Error(`no RabbitMQ broker answered at ${rabbit.urls.map(maskUrl).join(", ")}`);
    }
    logger.warn("RabbitMQ is unreachable: starting in buffering mode, reconnecting");
  }
  const pending = store.stats().size;
  if (pending > 0) logger.info(`${pending} events pending from a previous run`);
  return publisher;
}

async function openStore(
  config: ResolvedAsyncPublishConfig,
  now: (() => number) | undefined,
): Promise<PendingStore> {
  const buffer = config.bufferConfig;
  const limits = {
    maxEvents: buffer.maxBufferSize,
    maxBytes: buffer.maxPersistentSize,
    overflow: buffer.overflowPolicy,
  };
  if (!buffer.enablePersistence) return new MemoryStore(limits, now);
  return await KvStore.open({
    path: buffer.persistentStoragePath,
    limits,
    memoryLimit: config.maxBufferSize,
    now,
  });
}
