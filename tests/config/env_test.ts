import assert from "node:assert/strict";
import { DEFAULT_ASYNC_PUBLISH_CONFIG } from "../../src/config/defaults.ts";
import {
  parseAsyncPublishConfig,
  parseRabbitMQConfig,
  readAsyncPublishEnv,
  readRabbitMQEnv,
} from "../../src/config/env.ts";
import { resolveRabbitMQConfig } from "../../src/config/resolve.ts";
import { BAD_URLS, fakeEnv, PASSWORD, throwsNaming } from "./_helpers.ts";

Deno.test("parseRabbitMQConfig() reads every RABBITMQ_* connection variable", () => {
  const config = parseRabbitMQConfig(fakeEnv({
    RABBITMQ_URL: "amqp://u:p@h1:5672",
    RABBITMQ_EXCHANGE: "orders",
    RABBITMQ_EXCHANGE_TYPE: "fanout",
    RABBITMQ_HEARTBEAT: "0",
    RABBITMQ_CONNECTION_NAME: "billing",
    RABBITMQ_DEAD_LETTER_EXCHANGE: "orders.dlx",
    RABBITMQ_DEAD_LETTER_QUEUE: "orders.dlq",
    RABBITMQ_DEAD_LETTER_QUEUE_TYPE: "classic",
  }));
  const { routingKey: _, ...rest } = config;
  assert.deepEqual(rest, {
    urls: ["amqp://u:p@h1:5672"],
    exchange: "orders",
    exchangeType: "fanout",
    heartbeat: 0,
    connectionName: "billing",
    deadLetterExchange: "orders.dlx",
    deadLetterQueue: "orders.dlq",
    deadLetterQueueType: "classic",
    reconnectBaseDelay: 500,
    reconnectMaxDelay: 30000,
  });
});

Deno.test("parseRabbitMQConfig() splits a comma-separated RABBITMQ_URL and trims entries", () => {
  const config = parseRabbitMQConfig(fakeEnv({
    RABBITMQ_URL: " amqp://h1:5672 ,amqps://h2:5671,  amqp://h3 ",
  }));
  assert.deepEqual(config.urls, ["amqp://h1:5672", "amqps://h2:5671", "amqp://h3"]);
});

Deno.test("parseRabbitMQConfig() with no variables returns the defaults", () => {
  const { routingKey: _a, ...fromEnv } = parseRabbitMQConfig(fakeEnv());
  const { routingKey: _b, ...defaults } = resolveRabbitMQConfig();
  assert.deepEqual(fromEnv, defaults);
});

Deno.test("parseRabbitMQConfig() names the variable and the bad value", async (t) => {
  const cases: [string, string, string][] = [
    ["RABBITMQ_URL", "amqp://h1,,amqp://h2", '"amqp://h1,,amqp://h2"'],
    ["RABBITMQ_URL", "", 'got ""'],
    ["RABBITMQ_URL", "http://h1", '"http://h1"'],
    ["RABBITMQ_EXCHANGE", "", 'got ""'],
    ["RABBITMQ_EXCHANGE", "amq.direct", '"amq.direct"'],
    ["RABBITMQ_EXCHANGE_TYPE", "TOPICAL", '"TOPICAL"'],
    ["RABBITMQ_HEARTBEAT", "abc", '"abc"'],
    ["RABBITMQ_HEARTBEAT", "1.5", '"1.5"'],
    ["RABBITMQ_HEARTBEAT", "-1", '"-1"'],
    ["RABBITMQ_CONNECTION_NAME", "", 'got ""'],
    ["RABBITMQ_DEAD_LETTER_EXCHANGE", "amq.x", '"amq.x"'],
    ["RABBITMQ_DEAD_LETTER_QUEUE", "", 'got ""'],
    ["RABBITMQ_DEAD_LETTER_QUEUE_TYPE", "Quorum", '"Quorum"'],
  ];
  for (const [variable, value, shown] of cases) {
    await t.step(`${variable}=${JSON.stringify(value)}`, () => {
      throwsNaming(() => parseRabbitMQConfig(fakeEnv({ [variable]: value })), variable, shown);
    });
  }
});

Deno.test("parseRabbitMQConfig() names the variable when a combination is invalid", () => {
  throwsNaming(
    () =>
      parseRabbitMQConfig(fakeEnv({
        RABBITMQ_EXCHANGE: "ev",
        RABBITMQ_DEAD_LETTER_EXCHANGE: "ev",
      })),
    "RABBITMQ_DEAD_LETTER_EXCHANGE must differ from RABBITMQ_EXCHANGE",
  );
});

const ALL_ASYNC_VARIABLES = {
  RABBITMQ_ASYNC_BUFFER_SIZE: "2000",
  RABBITMQ_ASYNC_FLUSH_INTERVAL: "250",
  RABBITMQ_ASYNC_MAX_CONCURRENCY: "3",
  RABBITMQ_ASYNC_MAX_IN_FLIGHT: "45",
  RABBITMQ_ASYNC_BACKGROUND_PROCESSING: "false",
  RABBITMQ_ASYNC_BATCH_SIZE: "20",
  RABBITMQ_ASYNC_PUBLISH_TIMEOUT: "1500",
  RABBITMQ_ASYNC_MAX_MESSAGE_BYTES: "4096",
  RABBITMQ_BUFFER_MAX_SIZE: "777",
  RABBITMQ_BUFFER_MAX_AGE: "60000",
  RABBITMQ_BUFFER_PERSISTENCE: "YES",
  RABBITMQ_BUFFER_STORAGE_PATH: "/var/lib/events.kv",
  RABBITMQ_BUFFER_CLEANUP_INTERVAL: "10000",
  RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE: "1048576",
  RABBITMQ_BUFFER_FLUSH_BATCH_SIZE: "1000",
  RABBITMQ_BUFFER_OVERFLOW_POLICY: "drop-oldest-lowest-priority",
  RABBITMQ_RETRY_MAX_ATTEMPTS: "1",
  RABBITMQ_RETRY_BASE_DELAY: "100",
  RABBITMQ_RETRY_MAX_DELAY: "200",
  RABBITMQ_RETRY_MULTIPLIER: "1.5",
  RABBITMQ_CIRCUIT_FAILURE_THRESHOLD: "7",
  RABBITMQ_CIRCUIT_RESET_TIMEOUT: "9000",
};

Deno.test("parseAsyncPublishConfig() reads every RABBITMQ_ASYNC_*, _BUFFER_*, _RETRY_* and _CIRCUIT_* variable", () => {
  assert.deepEqual(parseAsyncPublishConfig(fakeEnv(ALL_ASYNC_VARIABLES)), {
    maxBufferSize: 2000,
    flushInterval: 250,
    maxConcurrency: 3,
    maxInFlight: 45,
    enableBackgroundProcessing: false,
    batchSize: 20,
    publishTimeout: 1500,
    maxMessageBytes: 4096,
    bufferConfig: {
      maxBufferSize: 777,
      maxEventAge: 60000,
      enablePersistence: true,
      persistentStoragePath: "/var/lib/events.kv",
      cleanupInterval: 10000,
      maxPersistentSize: 1048576,
      flushBatchSize: 1000,
      overflowPolicy: "drop-oldest-lowest-priority",
    },
    retry: { maxRetries: 1, baseDelay: 100, maxDelay: 200, multiplier: 1.5 },
    circuitBreaker: { failureThreshold: 7, resetTimeout: 9000 },
  });
});

Deno.test("parseAsyncPublishConfig() with no variables returns the defaults", () => {
  assert.deepEqual(parseAsyncPublishConfig(fakeEnv()), DEFAULT_ASYNC_PUBLISH_CONFIG);
});

Deno.test("parseAsyncPublishConfig() accepts true/false, 1/0 and yes/no in any case", () => {
  const read = (value: string) =>
    parseAsyncPublishConfig(fakeEnv({ RABBITMQ_ASYNC_BACKGROUND_PROCESSING: value }))
      .enableBackgroundProcessing;
  for (const value of ["true", "TRUE", "1", "yes", "Yes", " yes "]) assert.equal(read(value), true);
  for (const value of ["false", "False", "0", "no", "NO"]) assert.equal(read(value), false);
});

Deno.test("parseAsyncPublishConfig() names the variable and the bad value", async (t) => {
  const cases: [string, string][] = [
    ["RABBITMQ_ASYNC_BUFFER_SIZE", ""],
    ["RABBITMQ_ASYNC_BUFFER_SIZE", "12abc"],
    ["RABBITMQ_ASYNC_BUFFER_SIZE", "1e400"],
    ["RABBITMQ_ASYNC_BUFFER_SIZE", "0x10"],
    ["RABBITMQ_ASYNC_FLUSH_INTERVAL", "0"],
    ["RABBITMQ_ASYNC_FLUSH_INTERVAL", "soon"],
    ["RABBITMQ_ASYNC_MAX_CONCURRENCY", "2.5"],
    ["RABBITMQ_ASYNC_MAX_IN_FLIGHT", "0"],
    ["RABBITMQ_ASYNC_BACKGROUND_PROCESSING", "maybe"],
    ["RABBITMQ_ASYNC_BACKGROUND_PROCESSING", ""],
    ["RABBITMQ_ASYNC_BATCH_SIZE", "abc"],
    ["RABBITMQ_ASYNC_BATCH_SIZE", "0"],
    ["RABBITMQ_ASYNC_BATCH_SIZE", "1001"],
    ["RABBITMQ_ASYNC_PUBLISH_TIMEOUT", "-5"],
    ["RABBITMQ_ASYNC_MAX_MESSAGE_BYTES", "1.5"],
    ["RABBITMQ_BUFFER_MAX_SIZE", "-1"],
    ["RABBITMQ_BUFFER_MAX_AGE", "0"],
    ["RABBITMQ_BUFFER_PERSISTENCE", "on"],
    ["RABBITMQ_BUFFER_STORAGE_PATH", ""],
    ["RABBITMQ_BUFFER_CLEANUP_INTERVAL", "Infinity"],
    ["RABBITMQ_BUFFER_MAX_PERSISTENT_SIZE", "50MB"],
    ["RABBITMQ_BUFFER_FLUSH_BATCH_SIZE", "1001"],
    ["RABBITMQ_BUFFER_OVERFLOW_POLICY", "drop"],
    ["RABBITMQ_RETRY_MAX_ATTEMPTS", "-1"],
    ["RABBITMQ_RETRY_MAX_ATTEMPTS", "0"],
    ["RABBITMQ_RETRY_BASE_DELAY", "0"],
    ["RABBITMQ_RETRY_MAX_DELAY", "NaN"],
    ["RABBITMQ_RETRY_MULTIPLIER", "0.5"],
    ["RABBITMQ_CIRCUIT_FAILURE_THRESHOLD", "0"],
    ["RABBITMQ_CIRCUIT_RESET_TIMEOUT", "3000000000"],
  ];
  for (const [variable, value] of cases) {
    await t.step(`${variable}=${JSON.stringify(value)}`, () => {
      throwsNaming(
        () => parseAsyncPublishConfig(fakeEnv({ [variable]: value })),
        `${variable} must be`,
        `got ${JSON.stringify(value)}`,
      );
    });
  }
});

Deno.test("parseAsyncPublishConfig() gives the documented message for a non-numeric batch size", () => {
  const error = throwsNaming(
    () => parseAsyncPublishConfig(fakeEnv({ RABBITMQ_ASYNC_BATCH_SIZE: "abc" })),
  );
  assert.ok(error instanceof TypeError);
  assert.match(
    error.message,
    /^RABBITMQ_ASYNC_BATCH_SIZE must be a positive integer.*: got "abc"$/,
  );
});

Deno.test("parseAsyncPublishConfig() names the variables when a combination is invalid", () => {
  throwsNaming(
    () => parseAsyncPublishConfig(fakeEnv({ RABBITMQ_RETRY_BASE_DELAY: "90000" })),
    "RABBITMQ_RETRY_BASE_DELAY must be at most 'retry.maxDelay' (60000): got 90000",
  );
  throwsNaming(
    () =>
      parseAsyncPublishConfig(fakeEnv({
        RABBITMQ_ASYNC_MAX_MESSAGE_BYTES: "100000",
        RABBITMQ_BUFFER_PERSISTENCE: "true",
      })),
    "RABBITMQ_ASYNC_MAX_MESSAGE_BYTES must be at most 61440 when RABBITMQ_BUFFER_PERSISTENCE is true",
  );
});

Deno.test("readAsyncPublishEnv() returns only the variables that are set", () => {
  assert.deepEqual(readAsyncPublishEnv(fakeEnv()), {});
  assert.deepEqual(
    readAsyncPublishEnv(fakeEnv({
      RABBITMQ_ASYNC_BATCH_SIZE: "20",
      RABBITMQ_RETRY_MULTIPLIER: "3",
      UNRELATED: "x",
    })),
    { batchSize: 20, retry: { multiplier: 3 } },
  );
});

Deno.test("readRabbitMQEnv() returns only the variables that are set", () => {
  assert.deepEqual(readRabbitMQEnv(fakeEnv()), {});
  assert.deepEqual(readRabbitMQEnv(fakeEnv({ RABBITMQ_EXCHANGE: "orders" })), {
    exchange: "orders",
  });
  assert.deepEqual(readRabbitMQEnv(fakeEnv({ RABBITMQ_URL: "amqp://a,amqp://b" })), {
    url: ["amqp://a", "amqp://b"],
  });
});

Deno.test("parseRabbitMQConfig() never shows a URL password in an error message", () => {
  for (const url of BAD_URLS) {
    throwsNaming(() => parseRabbitMQConfig(fakeEnv({ RABBITMQ_URL: url })), "RABBITMQ_URL");
    throwsNaming(
      () => parseRabbitMQConfig(fakeEnv({ RABBITMQ_URL: `amqp://ok, ${url}` })),
      "RABBITMQ_URL",
    );
  }
  // A comma in a password splits the list; the message must still mask it.
  throwsNaming(
    () => parseRabbitMQConfig(fakeEnv({ RABBITMQ_URL: `amqp://u:${PASSWORD},x@host` })),
    "RABBITMQ_URL",
  );
});

Deno.test("integer variables are digits only: spaces, exponents, fractions and signs are errors naming the variable", async (t) => {
  const variables = [
    "RABBITMQ_ASYNC_BATCH_SIZE",
    "RABBITMQ_BUFFER_MAX_SIZE",
    "RABBITMQ_RETRY_MAX_ATTEMPTS",
    "RABBITMQ_CIRCUIT_FAILURE_THRESHOLD",
  ];
  for (const variable of variables) {
    for (const value of [" 10 ", "10 ", "1e3", "1.5", "+5", "10.0", "0x10", "1_000"]) {
      await t.step(`${variable}=${JSON.stringify(value)}`, () => {
        const error = throwsNaming(
          () => parseAsyncPublishConfig(fakeEnv({ [variable]: value })),
          variable,
          JSON.stringify(value),
          "digits only",
        );
        assert(error instanceof TypeError, error.message);
      });
    }
  }
  for (const value of [" 10 ", "1e1", "10.0"]) {
    throwsNaming(
      () => parseRabbitMQConfig(fakeEnv({ RABBITMQ_HEARTBEAT: value })),
      "RABBITMQ_HEARTBEAT",
      JSON.stringify(value),
    );
  }
  assert.equal(parseAsyncPublishConfig(fakeEnv({ RABBITMQ_ASYNC_BATCH_SIZE: "10" })).batchSize, 10);
});

Deno.test("decimal variables take digits with an optional decimal point, nothing else", () => {
  const read = (value: string) =>
    parseAsyncPublishConfig(fakeEnv({ RABBITMQ_RETRY_MULTIPLIER: value })).retry.multiplier;
  assert.equal(read("1.5"), 1.5);
  assert.equal(read("2"), 2);
  for (const value of [" 1.5", "1.5 ", "15e-1", ".5", "2.", "+2"]) {
    throwsNaming(() => read(value), "RABBITMQ_RETRY_MULTIPLIER", JSON.stringify(value));
  }
  const flushInterval = parseAsyncPublishConfig(fakeEnv({ RABBITMQ_ASYNC_FLUSH_INTERVAL: "2.5" }))
    .flushInterval;
  assert.equal(flushInterval, 2.5);
});
