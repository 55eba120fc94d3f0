/**
 * Resolution of code config: the options a caller passes, over the built-in
 * defaults, validated field by field. The environment is layered in by
 * `env.ts`; {@linkcode mergeAsyncPublishConfig} layers code config over it.
 *
 * @module
 */

import { fieldName } from "./_rules.ts";
import { resolveAsyncPublish, resolveRabbitMQ } from "./_resolve.ts";
import type {
  AsyncPublishConfig,
  RabbitMQConfig,
  ResolvedAsyncPublishConfig,
  ResolvedRabbitMQConfig,
} from "./types.ts";

/**
 * Resolves a RabbitMQ connection config: applies the defaults, normalises
 * `url` to `urls`, and validates every field.
 *
 * @param input The config; fields left out or `undefined` take their defaults.
 * @returns A fresh, fully resolved config.
 * @throws {TypeError} When a field has the wrong type; the message names the field.
 * @throws {RangeError} When a field is out of range, a URL is not an `amqp:`/`amqps:`
 * URL (its password masked in the message), `deadLetterExchange` equals
 * `exchange`, or `reconnectBaseDelay` exceeds `reconnectMaxDelay`.
 *
 * @example
 * ```ts
 * import { resolveRabbitMQConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = resolveRabbitMQConfig({ url: "amqp://app:secret@rabbit:5672", exchange: "orders" });
 * console.log(config.urls, config.deadLetterExchange); // ["amqp://app:secret@rabbit:5672"] orders.dead-letter
 * ```
 */
export function resolveRabbitMQConfig(input: RabbitMQConfig = {}): ResolvedRabbitMQConfig {
  return resolveRabbitMQ(input, fieldName);
}

/**
 * Resolves the publishing pipeline's config: applies the defaults field by
 * field (nested sections included) and validates every field.
 *
 * @param input The config; fields left out or `undefined` take their defaults.
 * @returns A fresh, fully resolved config.
 * @throws {TypeError} When a field has the wrong type; the message names the
 * field by its dotted path, for example `'bufferConfig.maxBufferSize'`.
 * @throws {RangeError} When a field is out of range, `retry.baseDelay` exceeds
 * `retry.maxDelay`, or persistence is on and `maxMessageBytes` exceeds 61440
 * (what fits in one Deno KV value).
 *
 * @example
 * ```ts
 * import { resolveAsyncPublishConfig } from "@simplycaster/rabbitmq-publisher";
 *
 * const config = resolveAsyncPublishConfig({ batchSize: 100, bufferConfig: { maxBufferSize: 500 } });
 * console.log(config.batchSize, config.bufferConfig.maxBufferSize, config.bufferConfig.maxEventAge); // 100 500 3600000
 *
 * try {
 *   resolveAsyncPublishConfig({ bufferConfig: { maxBufferSize: 0 } });
 * } catch (error) {
 *   console.log((error as RangeError).message); // 'bufferConfig.maxBufferSize' must be a positive integer: got 0
 * }
 * ```
 */
export function resolveAsyncPublishConfig(
  input: AsyncPublishConfig = {},
): ResolvedAsyncPublishConfig {
  return resolveAsyncPublish(input, fieldName);
}

/**
 * Merges pipeline configs field by field, nested sections included: a later
 * config's defined fields win, `undefined` fields are skipped. Use it to layer
 * code config over the environment, where a plain spread would replace a whole
 * nested section.
 *
 * @param configs The configs, lowest precedence first.
 * @returns A fresh, unvalidated config; pass it to {@linkcode resolveAsyncPublishConfig}.
 *
 * @example
 * ```ts
 * import { mergeAsyncPublishConfig, readAsyncPublishEnv } from "@simplycaster/rabbitmq-publisher";
 *
 * const env = new Map([["RABBITMQ_BUFFER_MAX_SIZE", "500"]]);
 * const merged = mergeAsyncPublishConfig(readAsyncPublishEnv(env), {
 *   bufferConfig: { enablePersistence: true },
 * });
 * console.log(merged.bufferConfig); // { maxBufferSize: 500, enablePersistence: true }
 * ```
 */
export function mergeAsyncPublishConfig(
  ...configs: readonly AsyncPublishConfig[]
): AsyncPublishConfig {
  const merged: AsyncPublishConfig = {};
  for (const config of configs) {
    const { bufferConfig, retry, circuitBreaker, ...top } = config;
    Object.assign(merged, definedFields(top));
    if (bufferConfig !== undefined) {
      merged.bufferConfig = { ...merged.bufferConfig, ...definedFields(bufferConfig) };
    }
    if (retry !== undefined) merged.retry = { ...merged.retry, ...definedFields(retry) };
    if (circuitBreaker !== undefined) {
      merged.circuitBreaker = { ...merged.circuitBreaker, ...definedFields(circuitBreaker) };
    }
  }
  return merged;
}

/** The input's fields that are not `undefined`. */
function definedFields<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(input).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
