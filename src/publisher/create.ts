/**
 * {@linkcode createRabbitMQAsyncEventPublisher}: resolves the configuration,
 * opens the pending store (memory, or Deno KV with persistence), builds the
 * transport and the publisher, and connects.
 *
 * @module
 */

import { maskUrl } from "../_mask.ts";
import { processEnv } from "../_runtime.ts";
import { explainConnectFailure } from "../amqp/_errors.ts";
import { AmqpTransport } from "../amqp/amqp_transport.ts";
import { BrokerConfigurationError } from "../errors.ts";
import type { Transport } from "../amqp/transport.ts";
import { layerAsyncPublishConfig, layerRabbitMQConfig } from "../config/env.ts";
import type {
  AsyncPublishConfig,
  EnvReader,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "../config/types.ts";
import { type Logger, quietLogger } from "../logger.ts";
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
 * The configuration comes in layers: the options passed in code, then the
 * `RABBITMQ_*` environment variables that are set (see `readRabbitMQEnv()`
 * and `readAsyncPublishEnv()`), then the built-in defaults. Without
 * `--allow-env` the variables are not read (said once at debug level);
 * `options.env` replaces the process environment with another reader, or
 * turns it off with `false`.
 *
 * @param rabbitMQConfig Where to connect; see {@linkcode RabbitMQConfig}.
 * @param asyncConfig The pipeline's options; see {@linkcode AsyncPublishConfig}.
 * @param options Injected parts (transport, store, logger, clock, environment).
 * @returns The running publisher.
 * @throws {RangeError} When an option or a variable is out of range; the message names it.
 * @throws {TypeError} When an option has the wrong type, or a variable cannot be parsed.
 * @throws {StoreLockedError} When another live publisher holds the persistent store.
 * @throws {BrokerConfigurationError} When `requireConnection` is set and a
 * broker refused the setup: a login, a vhost, an exchange that exists with
 * other settings (the message says what to fix).
 * @throws {Error} When `requireConnection` is set and no broker accepted the
 * connection: one line per URL saying why (a refused login names the user and
 * vhost, never the password); or when persistence is on and Deno KV is not
 * enabled (the deno.json line to add), or on Node `@deno/kv` is missing.
 *
 * @example
 * ```ts ignore
 * import { createRabbitMQAsyncEventPublisher } from "@simplycaster/rabbitmq-publisher";
 *
 * // RABBITMQ_URL=amqp://app:secret@rabbit:5672 RABBITMQ_BUFFER_MAX_SIZE=20000 deno run -A app.ts
 * const publisher = await createRabbitMQAsyncEventPublisher({ exchange: "orders" }, {
 *   maxConcurrency: 10,
 *   bufferConfig: { enablePersistence: true }, // the buffer size comes from the variable
 * });
 * await publisher.close();
 * ```
 */
export async function createRabbitMQAsyncEventPublisher(
  rabbitMQConfig: RabbitMQConfig | ResolvedRabbitMQConfig = {},
  asyncConfig: AsyncPublishConfig = {},
  options: PublisherOptions = {},
): Promise<RabbitMQAsyncEventPublisher> {
  const logger = options.logger ?? quietLogger;
  const env = environment(options.env, logger);
  const rabbit = layerRabbitMQConfig(
    "urls" in rabbitMQConfig ? { ...rabbitMQConfig, url: rabbitMQConfig.urls } : rabbitMQConfig,
    env,
  );
  const config = layerAsyncPublishConfig(asyncConfig, env);
  const store = options.store ?? await openStore(config, options.now);
  const transport = options.transport ?? new AmqpTransport({
    urls: rabbit.urls,
    exchange: rabbit.exchange,
    exchangeType: rabbit.exchangeType,
    deadLetter: {
      exchange: rabbit.deadLetterExchange,
      queue: rabbit.deadLetterQueue,
      queueType: rabbit.deadLetterQueueType,
    },
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
  const connected = await startTransport(transport, rabbit.urls);
  if (connected !== true) {
    if (options.requireConnection) {
      await publisher.close({ timeoutMs: 0 });
      throw connected.refusal ?? new Error(connected.text, { cause: connected.cause });
    }
    logger.warn(`${connected.text}: starting in buffering mode, reconnecting`);
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

const NO_ENV: EnvReader = { get: () => undefined };
let restrictionLogged = false;

/** The environment the factory layers beneath the code config; says once when it is restricted. */
function environment(option: EnvReader | false | undefined, logger: Logger): EnvReader {
  if (option === false) return NO_ENV;
  if (option !== undefined) return option;
  const { env, restricted } = processEnv();
  if (restricted !== undefined && !restrictionLogged) {
    restrictionLogged = true;
    logger.debug(
      `RABBITMQ_* variables not read: ${restricted}; the options in code and the defaults apply`,
    );
  }
  return env;
}

/**
 * Starts the transport: `true` once connected, otherwise one line saying why
 * the first pass over the URLs failed, URL by URL (a refused login names the
 * user and vhost), with the last error as the cause.
 */
async function startTransport(
  transport: Transport,
  urls: readonly string[],
): Promise<true | { text: string; cause?: Error; refusal?: BrokerConfigurationError }> {
  const failures = new Map<string, Error>();
  const unsubscribe = transport.onStateChange(({ url, error }) => {
    if (url !== undefined && error !== undefined) failures.set(url, error);
  });
  try {
    if (await transport.start()) return true;
  } finally {
    unsubscribe();
  }
  const shown = urls.map(maskUrl);
  const explained = shown.flatMap((url) => {
    const error = failures.get(url);
    if (error === undefined) return [];
    // A refusal of the setup says in its own words what to fix.
    if (error instanceof BrokerConfigurationError) {
      return [{ kind: "refused", text: error.message }];
    }
    return [explainConnectFailure(url, error)];
  });
  const cause = [...failures.values()].at(-1);
  const refusal = [...failures.values()].find((e) => e instanceof BrokerConfigurationError);
  // Several URLs that simply did not answer read best as one list.
  if (explained.length === 0 || explained.every(({ kind }) => kind === "unreachable")) {
    return { text: `no RabbitMQ broker answered at ${shown.join(", ")}`, cause };
  }
  return {
    text: explained.map(({ text }) => text).join("; "),
    cause,
    ...(refusal instanceof BrokerConfigurationError ? { refusal } : {}),
  };
}
