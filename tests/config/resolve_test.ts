import assert from "node:assert/strict";
import { readAsyncPublishEnv } from "../../src/config/env.ts";
import {
  DEFAULT_ASYNC_PUBLISH_CONFIG,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
  DEFAULT_EVENT_BUFFER_CONFIG,
  DEFAULT_RETRY_CONFIG,
} from "../../src/config/defaults.ts";
import {
  mergeAsyncPublishConfig,
  resolveAsyncPublishConfig,
  resolveRabbitMQConfig,
} from "../../src/config/resolve.ts";
import {
  type AsyncPublishConfig,
  EXCHANGE_TYPES,
  OVERFLOW_POLICIES,
} from "../../src/config/types.ts";
import { BAD_URLS, fakeEnv, throwsNaming } from "./_helpers.ts";

Deno.test("resolveAsyncPublishConfig() with no input returns the defaults as a fresh copy", () => {
  const config = resolveAsyncPublishConfig();
  assert.deepEqual(config, DEFAULT_ASYNC_PUBLISH_CONFIG);
  assert.notEqual(config.bufferConfig, DEFAULT_EVENT_BUFFER_CONFIG);
  config.bufferConfig.maxBufferSize = 1;
  assert.equal(DEFAULT_EVENT_BUFFER_CONFIG.maxBufferSize, 10000);
});

Deno.test("resolveRabbitMQConfig() with no input returns the documented defaults", () => {
  const { routingKey, ...rest } = resolveRabbitMQConfig();
  assert.deepEqual(rest, {
    urls: ["amqp://guest:guest@localhost:5672"],
    exchange: "domain-events",
    exchangeType: "topic",
    heartbeat: 30,
    connectionName: "rabbitmq-publisher",
    deadLetterExchange: "domain-events.dead-letter",
    deadLetterQueue: "domain-events.dead-letter",
    deadLetterQueueType: "quorum",
    reconnectBaseDelay: 500,
    reconnectMaxDelay: 30000,
  });
  assert.equal(routingKey({ id: "1", type: "user.created", data: {} }), "user.created");
});

Deno.test("resolveRabbitMQConfig() derives the dead-letter names from the exchange", () => {
  const config = resolveRabbitMQConfig({ exchange: "orders", deadLetterQueue: "orders.dlq" });
  assert.equal(config.deadLetterExchange, "orders.dead-letter");
  assert.equal(config.deadLetterQueue, "orders.dlq");
});

Deno.test("resolveRabbitMQConfig() normalises url to a urls list", () => {
  assert.deepEqual(resolveRabbitMQConfig({ url: "amqps://h1" }).urls, ["amqps://h1"]);
  const list = ["amqp://h1:5672", "amqp://h2:5672"];
  const config = resolveRabbitMQConfig({ url: list });
  assert.deepEqual(config.urls, list);
  assert.notEqual(config.urls, list);
});

Deno.test("resolveAsyncPublishConfig() merges nested sections field by field", () => {
  const config = resolveAsyncPublishConfig({
    batchSize: 100,
    maxConcurrency: undefined,
    bufferConfig: { maxBufferSize: 500, flushBatchSize: undefined },
    retry: { maxRetries: 1 },
  });
  assert.equal(config.batchSize, 100);
  assert.equal(config.maxConcurrency, 10);
  // Not given: maxConcurrency × batchSize.
  assert.equal(config.maxInFlight, 1_000);
  assert.deepEqual(config.bufferConfig, { ...DEFAULT_EVENT_BUFFER_CONFIG, maxBufferSize: 500 });
  assert.deepEqual(config.retry, { ...DEFAULT_RETRY_CONFIG, maxRetries: 1 });
  assert.deepEqual(config.circuitBreaker, DEFAULT_CIRCUIT_BREAKER_CONFIG);
});

Deno.test("resolveAsyncPublishConfig() names the dotted field and the bad value", async (t) => {
  const cases: [string, AsyncPublishConfig, string, string][] = [
    ["maxBufferSize", { maxBufferSize: 0 }, "'maxBufferSize' must be", "got 0"],
    ["flushInterval", { flushInterval: -1 }, "'flushInterval'", "got -1"],
    ["maxConcurrency", { maxConcurrency: 2.5 }, "'maxConcurrency'", "got 2.5"],
    ["maxInFlight", { maxInFlight: 0 }, "'maxInFlight' must be a positive integer", "got 0"],
    ["batchSize", { batchSize: 1001 }, "'batchSize'", "got 1001"],
    ["publishTimeout", { publishTimeout: Infinity }, "'publishTimeout'", "got Infinity"],
    ["maxMessageBytes", { maxMessageBytes: NaN }, "'maxMessageBytes'", "got NaN"],
    [
      "bufferConfig.maxBufferSize",
      { bufferConfig: { maxBufferSize: 0 } },
      "'bufferConfig.maxBufferSize' must be a positive integer: got 0",
      "",
    ],
    ["maxEventAge", { bufferConfig: { maxEventAge: 0 } }, "'bufferConfig.maxEventAge'", "got 0"],
    [
      "cleanupInterval",
      { bufferConfig: { cleanupInterval: 2 ** 31 } },
      "'bufferConfig.cleanupInterval'",
      "got 2147483648",
    ],
    [
      "flushBatchSize",
      { bufferConfig: { flushBatchSize: 5000 } },
      "'bufferConfig.flushBatchSize'",
      "got 5000",
    ],
    [
      "maxPersistentSize",
      { bufferConfig: { maxPersistentSize: -5 } },
      "'bufferConfig.maxPersistentSize'",
      "got -5",
    ],
    [
      "persistentStoragePath",
      { bufferConfig: { persistentStoragePath: "" } },
      "'bufferConfig.persistentStoragePath'",
      'got ""',
    ],
    ["maxRetries", { retry: { maxRetries: -1 } }, "'retry.maxRetries'", "got -1"],
    ["maxRetries", { retry: { maxRetries: 0 } }, "'retry.maxRetries'", "got 0"],
    ["multiplier", { retry: { multiplier: 0.5 } }, "'retry.multiplier'", "got 0.5"],
    [
      "baseDelay above maxDelay",
      { retry: { baseDelay: 5000, maxDelay: 1000 } },
      "'retry.baseDelay' must be at most 'retry.maxDelay' (1000)",
      "got 5000",
    ],
    [
      "failureThreshold",
      { circuitBreaker: { failureThreshold: 0 } },
      "'circuitBreaker.failureThreshold'",
      "got 0",
    ],
    [
      "resetTimeout",
      { circuitBreaker: { resetTimeout: 0 } },
      "'circuitBreaker.resetTimeout'",
      "got 0",
    ],
  ];
  for (const [name, input, field, value] of cases) {
    await t.step(name, () => {
      const error = throwsNaming(() => resolveAsyncPublishConfig(input), field, value);
      assert.ok(error instanceof RangeError);
    });
  }
});

Deno.test("resolveAsyncPublishConfig() throws TypeError for values of the wrong type", () => {
  const bad = (input: Record<string, unknown>) => input as AsyncPublishConfig;
  for (
    const [input, part] of [
      [bad({ batchSize: "50" }), `'batchSize' must be a positive integer of at most 1000`],
      [bad({ enableBackgroundProcessing: "yes" }), `'enableBackgroundProcessing'`],
      [bad({ bufferConfig: { enablePersistence: 1 } }), `'bufferConfig.enablePersistence'`],
      [bad({ bufferConfig: null }), `'bufferConfig' must be an object: got null`],
      [bad({ retry: [] }), `'retry' must be an object: got an array`],
    ] as const
  ) {
    const error = throwsNaming(() => resolveAsyncPublishConfig(input), part);
    assert.ok(error instanceof TypeError, error.message);
  }
});

Deno.test("resolveAsyncPublishConfig() rejects an unknown overflowPolicy", () => {
  throwsNaming(
    () =>
      resolveAsyncPublishConfig({
        bufferConfig: { overflowPolicy: "drop" as "reject" },
      }),
    '\'bufferConfig.overflowPolicy\' must be one of "reject" or "drop-oldest-lowest-priority"',
    'got "drop"',
  );
});

Deno.test("resolveAsyncPublishConfig() caps maxMessageBytes at 61440 when persistence is on", () => {
  const error = throwsNaming(
    () =>
      resolveAsyncPublishConfig({
        maxMessageBytes: 61441,
        bufferConfig: { enablePersistence: true },
      }),
    "'maxMessageBytes' must be at most 61440",
    "'bufferConfig.enablePersistence' is true",
    "Deno KV",
    "got 61441",
  );
  assert.ok(error instanceof RangeError);
  assert.equal(
    resolveAsyncPublishConfig({ maxMessageBytes: 61440, bufferConfig: { enablePersistence: true } })
      .maxMessageBytes,
    61440,
  );
  assert.equal(
    resolveAsyncPublishConfig({ maxMessageBytes: 1_000_000 }).maxMessageBytes,
    1_000_000,
  );
});

Deno.test("resolveRabbitMQConfig() names the field and the bad value", async (t) => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ["empty url list", { url: [] }, "'url' must be", "got an array"],
    ["url of the wrong type", { url: 5 }, "'url' must be", "got 5"],
    ["http url", { url: "http://localhost" }, "'url' must be an amqp://", '"http://localhost"'],
    ["second url", { url: ["amqp://a", "nonsense"] }, "'url[1]'", '"nonsense"'],
    ["empty exchange", { exchange: "" }, "'exchange' must be", 'got ""'],
    ["long exchange", { exchange: "x".repeat(256) }, "'exchange'", "xxx"],
    ["reserved exchange", { exchange: "amq.topic" }, "'exchange'", '"amq.topic"'],
    ["exchange type", { exchangeType: "match" }, "'exchangeType' must be one of", '"match"'],
    ["routing key", { routingKey: "type" }, "'routingKey' must be a function", '"type"'],
    ["heartbeat", { heartbeat: -1 }, "'heartbeat'", "got -1"],
    ["heartbeat too large", { heartbeat: 65536 }, "'heartbeat'", "got 65536"],
    ["connection name", { connectionName: "" }, "'connectionName'", 'got ""'],
    ["dead-letter queue", { deadLetterQueue: "amq.dlq" }, "'deadLetterQueue'", '"amq.dlq"'],
    [
      "dead-letter queue type",
      { deadLetterQueueType: "mirrored" },
      '\'deadLetterQueueType\' must be one of "quorum", "classic" or "stream"',
      '"mirrored"',
    ],
    [
      "dead-letter exchange equal to the exchange",
      { exchange: "ev", deadLetterExchange: "ev" },
      "'deadLetterExchange' must differ from 'exchange'",
      '"ev"',
    ],
    ["reconnect delay", { reconnectBaseDelay: 0 }, "'reconnectBaseDelay'", "got 0"],
    [
      "reconnect base above max",
      { reconnectBaseDelay: 2000, reconnectMaxDelay: 1000 },
      "'reconnectBaseDelay' must be at most 'reconnectMaxDelay' (1000)",
      "got 2000",
    ],
  ];
  for (const [name, input, field, value] of cases) {
    await t.step(name, () => {
      throwsNaming(
        () => resolveRabbitMQConfig(input as Parameters<typeof resolveRabbitMQConfig>[0]),
        field,
        value,
      );
    });
  }
});

Deno.test("mergeAsyncPublishConfig() layers code config over the environment field by field", () => {
  const env = fakeEnv({
    RABBITMQ_BUFFER_MAX_SIZE: "500",
    RABBITMQ_ASYNC_BATCH_SIZE: "20",
  });
  const config = resolveAsyncPublishConfig(
    mergeAsyncPublishConfig(readAsyncPublishEnv(env), {
      batchSize: undefined,
      bufferConfig: { enablePersistence: true },
    }),
  );
  assert.equal(config.batchSize, 20);
  assert.equal(config.bufferConfig.maxBufferSize, 500);
  assert.equal(config.bufferConfig.enablePersistence, true);
});

Deno.test("resolveRabbitMQConfig() accepts every exchange type of EXCHANGE_TYPES", () => {
  for (const exchangeType of EXCHANGE_TYPES) {
    assert.equal(resolveRabbitMQConfig({ exchangeType }).exchangeType, exchangeType);
  }
});

Deno.test("resolveAsyncPublishConfig() accepts every policy of OVERFLOW_POLICIES", () => {
  for (const overflowPolicy of OVERFLOW_POLICIES) {
    const config = resolveAsyncPublishConfig({ bufferConfig: { overflowPolicy } });
    assert.equal(config.bufferConfig.overflowPolicy, overflowPolicy);
  }
});

Deno.test("resolveRabbitMQConfig() never shows a URL password in an error message", () => {
  for (const url of BAD_URLS) {
    throwsNaming(() => resolveRabbitMQConfig({ url }), "'url'");
    throwsNaming(() => resolveRabbitMQConfig({ url: ["amqp://ok", url] }), "'url[1]'");
  }
});
