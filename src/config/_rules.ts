// The validation rules of every config field, and the checks and message
// helpers that apply them: what a bad value is, and how an error names the
// field and shows the value (credentials masked, long strings cut short).

import { maskCredentials, maskUrl } from "../_mask.ts";
import { utf8Length } from "../event.ts";
import {
  type AsyncPublishConfig,
  type CircuitBreakerConfig,
  DEAD_LETTER_QUEUE_TYPES,
  type EventBufferConfig,
  EXCHANGE_TYPES,
  OVERFLOW_POLICIES,
  type ResolvedRabbitMQConfig,
  type RetryConfig,
} from "./types.ts";

// One Deno KV atomic operation holds at most 1000 mutations, so a batch that is
// stored or deleted in one commit cannot be larger.
const MAX_KV_BATCH = 1_000;
// setTimeout fires at once for delays beyond a signed 32-bit integer.
const MAX_TIMER_MS = 2_147_483_647;

/** What a field's value must be: its type, a check, and the words an error uses for it. */
export type Rule =
  | {
    type: "number";
    expected: string;
    ok: (value: number) => boolean;
    /** Whole numbers only: a variable must be written as digits alone. */
    integer?: boolean;
  }
  | { type: "string"; expected: string; ok: (value: string) => boolean }
  | { type: "boolean"; expected: string }
  | { type: "function"; expected: string };

const positiveInteger: Rule = {
  type: "number",
  integer: true,
  expected: "a positive integer",
  ok: (n) => Number.isSafeInteger(n) && n > 0,
};
const kvBatchSize: Rule = {
  type: "number",
  integer: true,
  expected: `a positive integer of at most ${MAX_KV_BATCH} (one Deno KV atomic operation)`,
  ok: (n) => Number.isSafeInteger(n) && n > 0 && n <= MAX_KV_BATCH,
};
const timerMs: Rule = {
  type: "number",
  expected: `a positive number of milliseconds of at most ${MAX_TIMER_MS}`,
  ok: (n) => n > 0 && n <= MAX_TIMER_MS,
};
const durationMs: Rule = {
  type: "number",
  expected: "a positive, finite number of milliseconds",
  ok: (n) => n > 0 && Number.isFinite(n),
};
const boolean: Rule = { type: "boolean", expected: "a boolean" };
const nonEmptyString: Rule = {
  type: "string",
  expected: "a non-empty string",
  ok: (s) => s !== "",
};
const amqpName: Rule = {
  type: "string",
  expected:
    'a non-empty name of at most 255 bytes, not starting with "amq." (reserved by RabbitMQ)',
  ok: (s) => s !== "" && utf8Length(s) <= 255 && !s.startsWith("amq."),
};

/** The rule of a string that must be one of `values`. */
function oneOf(values: readonly string[]): Rule {
  const quoted = values.map((v) => JSON.stringify(v));
  return {
    type: "string",
    expected: `one of ${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`,
    ok: (s) => values.includes(s),
  };
}

/** A field of the RabbitMQ config that has a rule (`url` is checked on its own). */
export type RabbitMQField = Exclude<keyof ResolvedRabbitMQConfig, "urls">;
/** The rule of every RabbitMQ config field. */
export const RABBITMQ_RULES: Record<RabbitMQField, Rule> = {
  exchange: amqpName,
  exchangeType: oneOf(EXCHANGE_TYPES),
  routingKey: { type: "function", expected: "a function" },
  heartbeat: {
    type: "number",
    integer: true,
    expected: "an integer from 0 to 65535 (seconds)",
    ok: (n) => Number.isInteger(n) && n >= 0 && n <= 65_535,
  },
  connectionName: nonEmptyString,
  deadLetterExchange: amqpName,
  deadLetterQueue: amqpName,
  deadLetterQueueType: oneOf(DEAD_LETTER_QUEUE_TYPES),
  reconnectBaseDelay: timerMs,
  reconnectMaxDelay: timerMs,
};

/** The nested sections of the pipeline config. */
type Section = "bufferConfig" | "retry" | "circuitBreaker";
/** A pipeline config field by its dotted path, for example `"retry.maxDelay"`. */
export type AsyncField =
  | Exclude<keyof AsyncPublishConfig, Section>
  | `bufferConfig.${keyof EventBufferConfig}`
  | `retry.${keyof RetryConfig}`
  | `circuitBreaker.${keyof CircuitBreakerConfig}`;
/** The rule of every pipeline config field, by dotted path. */
export const ASYNC_RULES: Record<AsyncField, Rule> = {
  maxBufferSize: positiveInteger,
  flushInterval: timerMs,
  maxConcurrency: positiveInteger,
  maxInFlight: positiveInteger,
  enableBackgroundProcessing: boolean,
  batchSize: kvBatchSize,
  publishTimeout: timerMs,
  maxMessageBytes: positiveInteger,
  "bufferConfig.maxBufferSize": positiveInteger,
  "bufferConfig.maxEventAge": durationMs,
  "bufferConfig.enablePersistence": boolean,
  "bufferConfig.persistentStoragePath": nonEmptyString,
  "bufferConfig.cleanupInterval": timerMs,
  "bufferConfig.maxPersistentSize": positiveInteger,
  "bufferConfig.flushBatchSize": kvBatchSize,
  "bufferConfig.overflowPolicy": oneOf(OVERFLOW_POLICIES),
  // The total number of attempts: at least the first one.
  "retry.maxRetries": positiveInteger,
  "retry.baseDelay": timerMs,
  "retry.maxDelay": timerMs,
  "retry.multiplier": {
    type: "number",
    expected: "a finite number of at least 1",
    ok: (n) => n >= 1 && Number.isFinite(n),
  },
  "circuitBreaker.failureThreshold": positiveInteger,
  "circuitBreaker.resetTimeout": timerMs,
};

/** Turns a field's dotted path into the name an error message uses for it. */
export type Namer = (path: string) => string;
/** Names a field of code config: `'retry.maxDelay'`. */
export const fieldName: Namer = (path) => `'${path}'`;

/** Throws a TypeError or RangeError naming the field unless `value` keeps `rule`. */
export function check(name: string, value: unknown, rule: Rule, shown = show(value)): void {
  const message = `${name} must be ${rule.expected}: got ${shown}`;
  const type: string = typeof value;
  if (type !== rule.type) throw new TypeError(message);
  const ok = rule.type === "number"
    ? rule.ok(value as number)
    : rule.type === "string"
    ? rule.ok(value as string)
    : true;
  if (!ok) throw new RangeError(message);
}

/** Throws a TypeError naming the field unless `value` is a plain object. */
export function checkObject(value: unknown, name: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object: got ${show(value)}`);
  }
}

/** Throws a RangeError naming both fields when `config[low]` exceeds `config[high]`. */
export function checkOrder<K extends string>(
  name: Namer,
  low: K,
  high: K,
  config: Record<K, number>,
): void {
  if (config[low] > config[high]) {
    throw new RangeError(
      `${name(low)} must be at most ${name(high)} (${config[high]}): got ${config[low]}`,
    );
  }
}

/** Throws naming the field, the password masked, unless `url` is an AMQP URL with a host. */
export function checkUrl(name: string, url: unknown): void {
  const message = `${name} must be an amqp:// or amqps:// URL with a host: got `;
  if (typeof url !== "string") throw new TypeError(message + show(url));
  if (!isAmqpUrl(url)) throw new RangeError(message + showUrls(url));
}

/** Whether `url` parses as an `amqp:` or `amqps:` URL with a host. */
export function isAmqpUrl(url: string): boolean {
  // The parser's error is dropped, never used as a `cause`: it repeats the password.
  try {
    const { protocol, hostname } = new URL(url);
    return (protocol === "amqp:" || protocol === "amqps:") && hostname !== "";
  } catch {
    return false;
  }
}

/** A value as an error message shows it: strings quoted, cut short, credentials masked. */
export function show(value: unknown): string {
  if (typeof value === "string") return quote(maskCredentials(value));
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/**
 * URLs as an error message shows them. Masking the whole text first catches a
 * password holding a comma, which splitting the list would cut in two;
 * masking each entry then catches one holding a "/".
 */
export function showUrls(urls: string): string {
  return quote(maskCredentials(urls).split(",").map(maskUrl).join(","));
}

/** A text quoted as JSON, cut to 80 characters. */
function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? text.slice(0, 80) + "…" : text);
}
