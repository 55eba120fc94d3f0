/**
 * The `RABBITMQ_*` environment variables: which variable sets which field,
 * how a value is parsed, and the readers that turn an environment into config.
 *
 * @module
 */

import { envReader } from "../_runtime.ts";
import {
  ASYNC_RULES,
  type AsyncField,
  check,
  fieldName,
  isAmqpUrl,
  type Namer,
  RABBITMQ_RULES,
  type RabbitMQField,
  type Rule,
  show,
  showUrls,
} from "./_rules.ts";
import { resolveAsyncPublish, resolveRabbitMQ } from "./_resolve.ts";
import { mergeAsyncPublishConfig } from "./resolve.ts";
import type {
  AsyncPublishConfig,
  EnvReader,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "./types.ts";

// Which variable sets which field; the url is read on its own (it may be a list).
const RABBITMQ_ENV: readonly (readonly [string, RabbitMQField])[] = [
  ["RABBITMQ_EXCHANGE", "exchange"],
  ["RABBITMQ_EXCHANGE_TYPE", "exchangeType"],
  ["RABBITMQ_HEARTBEAT", "heartbeat"],
  ["RABBITMQ_CONNECTION_NAME", "connectionName"],
  ["RABBITMQ_DEAD_LETTER_EXCHANGE", "deadLetterExchange"],
  ["RABBITMQ_DEAD_LETTER_QUEUE", "deadLetterQueue"],
  ["RABBITMQ_DEAD_LETTER_QUEUE_TYPE", "deadLetterQueueType"],
];
const URL_VARIABLE = "RABBITMQ_URL";

const ASYNC_ENV: readonly (readonly [string, AsyncField])[] = [
  ["RABBITMQ_ASYNC_BUFFER_SIZE", "maxBufferSize"],
  ["RABBITMQ_ASYNC_FLUSH_INTERVAL", "flushInterval"],
  ["RABBITMQ_ASYNC_MAX_CONCURRENCY", "maxConcurrency"],
  ["RABBITMQ_ASYNC_MAX_IN_FLIGHT", "maxInFlight"],
  ["RABBITMQ_ASYNC_BACKGROUND_PROCESSING", "enableBackgroundProcessing"],
  ["RABBITMQ_ASYNC_BATCH_SIZE", "batchSize"],
  ["RABBITMQ_ASYNC_PUBLISH_TIMEOUT", "publishTimeout"],
  ["RABBITMQ_ASYNC_MAX_MESSAGE_BYTES", "maxMessageBytes"],
  ["RABBITMQ_BUFFER_MAX_SIZE", "bufferConfig.maxBufferSize"],
  ["RABBITMQ_BUFFER_MAX_AGE", "bufferConfig.maxEventAge"],
  ["RABBITMQ_BUFFER_PERSISTENCE", "bufferConfig.enablePersistence"],
  ["RABBITMQ_BUFFER_STORAGE_PATH", "bufferConfig.persistentStoragePath"],
  ["RABBITMQ_BUFFER_CLEANUP_INTERVAL", "bufferConfig.cleanupInterval"],
  ["RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE", "bufferConfig.maxPersistentSize"],
  ["RABBITMQ_BUFFER_FLUSH_BATCH_SIZE", "bufferConfig.flushBatchSize"],
  ["RABBITMQ_BUFFER_OVERFLOW_POLICY", "bufferConfig.overflowPolicy"],
  ["RABBITMQ_RETRY_MAX_ATTEMPTS", "retry.maxRetries"],
  ["RABBITMQ_RETRY_BASE_DELAY", "retry.baseDelay"],
  ["RABBITMQ_RETRY_MAX_DELAY", "retry.maxDelay"],
  ["RABBITMQ_RETRY_MULTIPLIER", "retry.multiplier"],
  ["RABBITMQ_CIRCUIT_FAILURE_THRESHOLD", "circuitBreaker.failureThreshold"],
  ["RABBITMQ_CIRCUIT_RESET_TIMEOUT", "circuitBreaker.resetTimeout"],
];

/**
 * Reads the RabbitMQ connection variables that are set, without applying
 * defaults, so that code config can be spread over them:
 * `resolveRabbitMQConfig({ ...readRabbitMQEnv(), ...mine })`.
 *
 * Variables: `RABBITMQ_URL` (one URL, or several separated by commas),
 * `RABBITMQ_EXCHANGE`, `RABBITMQ_EXCHANGE_TYPE`, `RABBITMQ_HEARTBEAT`,
 * `RABBITMQ_CONNECTION_NAME`, `RABBITMQ_DEAD_LETTER_EXCHANGE`,
 * `RABBITMQ_DEAD_LETTER_QUEUE`, `RABBITMQ_DEAD_LETTER_QUEUE_TYPE`.
 *
 * @param env Where the variables are read: `Deno.env` by default (`process.env` on Node).
 * @returns A partial config holding only the fields whose variables are set.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value is out of range; the message names the variable and the value.
 *
 * @example
 * ```ts
 * import { readRabbitMQEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_URL", "amqp://a:5672, amqp://b:5672"], ["RABBITMQ_HEARTBEAT", "10"]]);
 * console.log(readRabbitMQEnv(env)); // { url: ["amqp://a:5672", "amqp://b:5672"], heartbeat: 10 }
 * ```
 */
export function readRabbitMQEnv(env: EnvReader = envReader()): RabbitMQConfig {
  const config: Record<string, unknown> = {};
  const urls = env.get(URL_VARIABLE);
  if (urls !== undefined) {
    const list = urls.split(",").map((url) => url.trim());
    if (!list.every(isAmqpUrl)) {
      throw new RangeError(
        `${URL_VARIABLE} must be an amqp:// or amqps:// URL, or several separated by commas ` +
          `(write a comma in a password as %2C): got ${showUrls(urls)}`,
      );
    }
    config.url = list.length === 1 ? list[0] : list;
  }
  for (const [variable, field] of RABBITMQ_ENV) {
    const raw = env.get(variable);
    if (raw !== undefined) config[field] = fromEnv(variable, raw, RABBITMQ_RULES[field]);
  }
  return config as RabbitMQConfig;
}

/**
 * Reads the pipeline variables that are set, without applying defaults. Layer
 * code config over them with {@linkcode mergeAsyncPublishConfig}: a plain
 * spread would replace whole nested sections such as `bufferConfig`.
 *
 * Variables: `RABBITMQ_ASYNC_BUFFER_SIZE`, `RABBITMQ_ASYNC_FLUSH_INTERVAL`,
 * `RABBITMQ_ASYNC_MAX_CONCURRENCY`, `RABBITMQ_ASYNC_MAX_IN_FLIGHT`,
 * `RABBITMQ_ASYNC_BACKGROUND_PROCESSING`,
 * `RABBITMQ_ASYNC_BATCH_SIZE`, `RABBITMQ_ASYNC_PUBLISH_TIMEOUT`,
 * `RABBITMQ_ASYNC_MAX_MESSAGE_BYTES`; `RABBITMQ_BUFFER_MAX_SIZE`,
 * `RABBITMQ_BUFFER_MAX_AGE`, `RABBITMQ_BUFFER_PERSISTENCE`,
 * `RABBITMQ_BUFFER_STORAGE_PATH`, `RABBITMQ_BUFFER_CLEANUP_INTERVAL`,
 * `RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE`, `RABBITMQ_BUFFER_FLUSH_BATCH_SIZE`,
 * `RABBITMQ_BUFFER_OVERFLOW_POLICY`; `RABBITMQ_RETRY_MAX_ATTEMPTS`,
 * `RABBITMQ_RETRY_BASE_DELAY`, `RABBITMQ_RETRY_MAX_DELAY`,
 * `RABBITMQ_RETRY_MULTIPLIER`; `RABBITMQ_CIRCUIT_FAILURE_THRESHOLD`,
 * `RABBITMQ_CIRCUIT_RESET_TIMEOUT`. Booleans accept `true`/`false`, `1`/`0`
 * and `yes`/`no`, in any case.
 *
 * @param env Where the variables are read: `Deno.env` by default (`process.env` on Node).
 * @returns A partial config holding only the fields whose variables are set.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value is out of range; the message names the variable and the value.
 *
 * @example
 * ```ts
 * import { readAsyncPublishEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_ASYNC_BATCH_SIZE", "200"], ["RABBITMQ_BUFFER_PERSISTENCE", "yes"]]);
 * console.log(readAsyncPublishEnv(env)); // { batchSize: 200, bufferConfig: { enablePersistence: true } }
 * ```
 */
export function readAsyncPublishEnv(env: EnvReader = envReader()): AsyncPublishConfig {
  const config: Record<string, unknown> = {};
  for (const [variable, path] of ASYNC_ENV) {
    const raw = env.get(variable);
    if (raw === undefined) continue;
    const value = fromEnv(variable, raw, ASYNC_RULES[path]);
    const [section, field] = path.split(".");
    if (field === undefined) {
      config[section] = value;
    } else {
      const nested = (config[section] ??= {}) as Record<string, unknown>;
      nested[field] = value;
    }
  }
  return config as AsyncPublishConfig;
}

/**
 * Reads the RabbitMQ connection config from the environment (see
 * {@linkcode readRabbitMQEnv} for the variables) and resolves it with the defaults.
 *
 * @param env Where the variables are read: `Deno.env` by default (`process.env` on Node).
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value, or a combination of values, is invalid;
 * the message names the variable.
 *
 * @example
 * ```ts
 * import { parseRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = parseRabbitMQConfig(new Map([["RABBITMQ_EXCHANGE", "orders"]]));
 * console.log(config.exchange, config.deadLetterQueue); // orders orders.dead-letter
 * ```
 */
export function parseRabbitMQConfig(env: EnvReader = envReader()): ResolvedRabbitMQConfig {
  return resolveRabbitMQ(
    readRabbitMQEnv(env),
    envNamer(env, [[URL_VARIABLE, "url"], ...RABBITMQ_ENV]),
  );
}

/**
 * Reads the pipeline config from the environment (see
 * {@linkcode readAsyncPublishEnv} for the variables) and resolves it with the defaults.
 *
 * @param env Where the variables are read: `Deno.env` by default (`process.env` on Node).
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed; the message names the variable and the value.
 * @throws {RangeError} When a value, or a combination of values, is invalid;
 * the message names the variable.
 *
 * @example
 * ```ts
 * import { parseAsyncPublishConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * try {
 *   parseAsyncPublishConfig(new Map([["RABBITMQ_ASYNC_BATCH_SIZE", "abc"]]));
 * } catch (error) {
 *   console.log((error as TypeError).message); // RABBITMQ_ASYNC_BATCH_SIZE must be a positive integer ...: got "abc"
 * }
 * ```
 */
export function parseAsyncPublishConfig(env: EnvReader = envReader()): ResolvedAsyncPublishConfig {
  return resolveAsyncPublish(readAsyncPublishEnv(env), envNamer(env, ASYNC_ENV));
}

/**
 * Resolves the connection config in layers: the fields `code` sets, over the
 * `RABBITMQ_*` variables that are set (see {@linkcode readRabbitMQEnv}), over
 * the defaults. An error names the variable when the bad value came from the
 * environment, the field when it came from code.
 *
 * @param code The config passed in code; its `undefined` fields are left to the layers below.
 * @param env Where the variables are read.
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed or has the wrong type, naming its variable or field.
 * @throws {RangeError} When a value is out of range, naming its variable or field.
 *
 * @example
 * ```ts
 * import { layerRabbitMQConfig } from "./env.ts";
 *
 * const env = new Map([["RABBITMQ_EXCHANGE", "from-env"], ["RABBITMQ_HEARTBEAT", "10"]]);
 * const config = layerRabbitMQConfig({ exchange: "from-code" }, env);
 * console.log(config.exchange, config.heartbeat); // from-code 10
 * ```
 */
export function layerRabbitMQConfig(code: RabbitMQConfig, env: EnvReader): ResolvedRabbitMQConfig {
  // Not an object: nothing to layer, and the resolver says what is wrong.
  if (!isObject(code)) return resolveRabbitMQ(code, fieldName);
  const fromCode = Object.fromEntries(
    Object.entries(code).filter(([, value]) => value !== undefined),
  );
  return resolveRabbitMQ(
    { ...readRabbitMQEnv(env), ...fromCode },
    layerNamer(fromCode, envNamer(env, [[URL_VARIABLE, "url"], ...RABBITMQ_ENV])),
  );
}

/**
 * Resolves the pipeline config in layers: the fields `code` sets, over the
 * `RABBITMQ_*` variables that are set (see {@linkcode readAsyncPublishEnv}),
 * over the defaults; nested sections such as `bufferConfig` merge field by
 * field. An error names the variable when the bad value came from the
 * environment, the field when it came from code.
 *
 * @param code The config passed in code; its `undefined` fields are left to the layers below.
 * @param env Where the variables are read.
 * @returns The resolved config.
 * @throws {TypeError} When a value cannot be parsed or has the wrong type, naming its variable or field.
 * @throws {RangeError} When a value is out of range, naming its variable or field.
 *
 * @example
 * ```ts
 * import { layerAsyncPublishConfig } from "./env.ts";
 *
 * const env = new Map([["RABBITMQ_BUFFER_MAX_SIZE", "500"], ["RABBITMQ_ASYNC_BATCH_SIZE", "20"]]);
 * const config = layerAsyncPublishConfig({ bufferConfig: { maxEventAge: 60_000 } }, env);
 * console.log(config.batchSize, config.bufferConfig.maxBufferSize, config.bufferConfig.maxEventAge);
 * // 20 500 60000
 * ```
 */
export function layerAsyncPublishConfig(
  code: AsyncPublishConfig,
  env: EnvReader,
): ResolvedAsyncPublishConfig {
  const { bufferConfig, retry, circuitBreaker } = isObject(code) ? code : {};
  if (!isObject(code) || [bufferConfig, retry, circuitBreaker].some((s) => !isObject(s ?? {}))) {
    // A section that is not an object would be spread away: the resolver says what is wrong.
    return resolveAsyncPublish(code, fieldName);
  }
  const fromCode = mergeAsyncPublishConfig(code);
  return resolveAsyncPublish(
    mergeAsyncPublishConfig(readAsyncPublishEnv(env), fromCode),
    layerNamer(fromCode, envNamer(env, ASYNC_ENV)),
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Names a field set in code by its path, any other by `below` (its variable when set). */
function layerNamer(code: object, below: Namer): Namer {
  return (path) => {
    let value: unknown = code;
    for (const part of path.replace(/\[\d+\]$/, "").split(".")) {
      value = (value as Record<string, unknown> | undefined)?.[part];
    }
    return value !== undefined ? fieldName(path) : below(path);
  };
}

/** Names a field by its variable when the environment set it, by its path otherwise. */
function envNamer(env: EnvReader, table: readonly (readonly [string, string])[]): Namer {
  return (path) => {
    const variable = table.find(([, field]) => field === path)?.[0];
    return variable !== undefined && env.get(variable) !== undefined ? variable : fieldName(path);
  };
}

/** Parses an environment value by the type its rule expects, then checks the rule. */
function fromEnv(variable: string, raw: string, rule: Rule): unknown {
  const shown = show(raw);
  if (rule.type === "boolean") {
    const value = BOOLEANS[raw.trim().toLowerCase()];
    if (value === undefined) {
      throw new TypeError(
        `${variable} must be true, false, 1, 0, yes or no: got ${shown}`,
      );
    }
    return value;
  }
  if (rule.type === "number") {
    // Strict: digits (and, where fractions make sense, one decimal point),
    // no sign, exponent or surrounding spaces, which Number() would accept.
    const value = Number(raw);
    if (!(rule.integer ? INTEGER : DECIMAL).test(raw) || !Number.isFinite(value)) {
      const form = rule.integer ? "digits only" : "digits, with an optional decimal point";
      throw new TypeError(`${variable} must be ${rule.expected}, written as ${form}: got ${shown}`);
    }
    check(variable, value, rule, shown);
    return value;
  }
  check(variable, raw, rule, shown);
  return raw;
}

const BOOLEANS: Record<string, boolean> = {
  true: true,
  false: false,
  1: true,
  0: false,
  yes: true,
  no: false,
};
const INTEGER = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;
