// Resolution itself, shared by code config (resolve.ts) and the environment
// (env.ts): fill left-out fields from the defaults, then check every field.
// Errors name each field through a Namer, so that one resolver can speak of
// `'retry.maxDelay'` to code and of `RABBITMQ_RETRY_MAX_DELAY` to an operator.

import { DEFAULT_MAX_MESSAGE_BYTES } from "../event.ts";
import {
  ASYNC_RULES,
  type AsyncField,
  check,
  checkObject,
  checkOrder,
  checkUrl,
  type Namer,
  RABBITMQ_RULES,
  type RabbitMQField,
  show,
} from "./_rules.ts";
import {
  DEFAULT_ASYNC_PUBLISH_CONFIG,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
  DEFAULT_EVENT_BUFFER_CONFIG,
  DEFAULT_RABBITMQ_CONFIG,
  DEFAULT_RETRY_CONFIG,
} from "./defaults.ts";
import type {
  AsyncPublishConfig,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "./types.ts";

/** Resolves a RabbitMQ config, naming fields in errors with `name`. */
export function resolveRabbitMQ(input: RabbitMQConfig, name: Namer): ResolvedRabbitMQConfig {
  checkObject(input, "config");
  const defaults = DEFAULT_RABBITMQ_CONFIG;
  const { url = defaults.url } = input;
  let urls: string[];
  if (typeof url === "string") {
    checkUrl(name("url"), url);
    urls = [url];
  } else if (Array.isArray(url) && url.length > 0) {
    url.forEach((entry, i) => checkUrl(name(`url[${i}]`), entry));
    urls = [...url];
  } else {
    const problem = Array.isArray(url) ? RangeError : TypeError;
    throw new problem(
      `${name("url")} must be a URL or a non-empty array of URLs: got ${show(url)}`,
    );
  }
  const exchange = input.exchange ?? defaults.exchange;
  check(name("exchange"), exchange, RABBITMQ_RULES.exchange);
  const config: ResolvedRabbitMQConfig = {
    urls,
    ...withDefaults<Omit<ResolvedRabbitMQConfig, "urls">>({
      exchange,
      exchangeType: defaults.exchangeType,
      routingKey: defaults.routingKey,
      heartbeat: defaults.heartbeat,
      connectionName: defaults.connectionName,
      // The dead-letter names follow the exchange (see RabbitMQConfig's @default).
      deadLetterExchange: `${exchange}.dead-letter`,
      deadLetterQueue: `${exchange}.dead-letter`,
      deadLetterQueueType: defaults.deadLetterQueueType,
      reconnectBaseDelay: defaults.reconnectBaseDelay,
      reconnectMaxDelay: defaults.reconnectMaxDelay,
    }, input),
  };
  for (const field of Object.keys(RABBITMQ_RULES) as RabbitMQField[]) {
    check(name(field), config[field], RABBITMQ_RULES[field]);
  }
  if (config.deadLetterExchange === config.exchange) {
    throw new RangeError(
      `${name("deadLetterExchange")} must differ from ${name("exchange")}, since it is ` +
        `declared as a fanout exchange: got ${show(config.deadLetterExchange)}`,
    );
  }
  checkOrder(name, "reconnectBaseDelay", "reconnectMaxDelay", config);
  return config;
}

/** Resolves a pipeline config, naming fields in errors with `name`. */
export function resolveAsyncPublish(
  input: AsyncPublishConfig,
  name: Namer,
): ResolvedAsyncPublishConfig {
  checkObject(input, "config");
  const { bufferConfig = {}, retry = {}, circuitBreaker = {}, ...top } = input;
  checkObject(bufferConfig, name("bufferConfig"));
  checkObject(retry, name("retry"));
  checkObject(circuitBreaker, name("circuitBreaker"));
  const config: ResolvedAsyncPublishConfig = {
    ...withDefaults(DEFAULT_ASYNC_PUBLISH_CONFIG, top),
    maxInFlight: top.maxInFlight ??
      (top.maxConcurrency ?? DEFAULT_ASYNC_PUBLISH_CONFIG.maxConcurrency) *
        (top.batchSize ?? DEFAULT_ASYNC_PUBLISH_CONFIG.batchSize),
    bufferConfig: withDefaults(DEFAULT_EVENT_BUFFER_CONFIG, bufferConfig),
    retry: withDefaults(DEFAULT_RETRY_CONFIG, retry),
    circuitBreaker: withDefaults(DEFAULT_CIRCUIT_BREAKER_CONFIG, circuitBreaker),
  };
  for (const path of Object.keys(ASYNC_RULES) as AsyncField[]) {
    const [section, field] = path.split(".") as [keyof ResolvedAsyncPublishConfig, string?];
    const value = field === undefined
      ? config[section]
      : (config[section] as unknown as Record<string, unknown>)[field];
    check(name(path), value, ASYNC_RULES[path]);
  }
  checkOrder((field) => name(`retry.${field}`), "baseDelay", "maxDelay", config.retry);
  if (config.bufferConfig.enablePersistence && config.maxMessageBytes > DEFAULT_MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `${name("maxMessageBytes")} must be at most ${DEFAULT_MAX_MESSAGE_BYTES} when ` +
        `${name("bufferConfig.enablePersistence")} is true, since a Deno KV value holds at ` +
        `most 64 KiB and each event is stored with its metadata: got ${config.maxMessageBytes}`,
    );
  }
  return config;
}

/** The defaults, overridden by the input's fields that are not `undefined`; other keys are dropped. */
function withDefaults<T extends object>(defaults: T, input: Partial<T>): T {
  const result = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T)[]) {
    const value = input[key];
    if (value !== undefined) result[key] = value as T[keyof T];
  }
  return result;
}
