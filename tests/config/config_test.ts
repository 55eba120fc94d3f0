import assert from "node:assert/strict";
import { maskCredentials, maskUrl } from "../../src/_mask.ts";
import {
  type AsyncPublishConfig,
  DEFAULT_ASYNC_PUBLISH_CONFIG,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
  DEFAULT_EVENT_BUFFER_CONFIG,
  DEFAULT_RETRY_CONFIG,
  type EnvReader,
  mergeAsyncPublishConfig,
  parseAsyncPublishConfig,
  parseRabbitMQConfig,
  readAsyncPublishEnv,
  readRabbitMQEnv,
  resolveAsyncPublishConfig,
  resolveRabbitMQConfig,
} from "../../src/config/config.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../src/event.ts";

const PASSWORD = "s3cr3t-pa55";

function fakeEnv(vars: Record<string, string> = {}): EnvReader {
  return new Map(Object.entries(vars));
}

/** Runs `fn`, asserts it throws a TypeError or a RangeError, and returns it. */
function thrown(fn: () => unknown): TypeError | RangeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    assert.ok(
      error instanceof TypeError || error instanceof RangeError,
      `expected a TypeError or RangeError, got ${error.name}: ${error.message}`,
    );
    return error;
  }
  throw new assert.AssertionError({ message: "expected the call to throw" });
}

/** Asserts `fn` throws a TypeError or RangeError whose message contains every part. */
function throwsNaming(fn: () => unknown, ...parts: string[]): Error {
  const error = thrown(fn);
  for (const part of parts) {
    assert.ok(error.message.includes(part), `${JSON.stringify(error.message)} lacks ${part}`);
  }
  assert.ok(!error.message.includes(PASSWORD), `password leaked: ${error.message}`);
  assert.ok(!String(error.cause ?? "").includes(PASSWORD), "password leaked in the cause");
  return error;
}

Deno.test("the DEFAULT_* constants hold the documented defaults", () => {
  assert.deepEqual(DEFAULT_ASYNC_PUBLISH_CONFIG, {
    maxBufferSize: 1000,
    flushInterval: 5000,
    maxConcurrency: 10,
    enableBackgroundProcessing: true,
    batchSize: 50,
    publishTimeout: 30000,
    maxMessageBytes: 61440,
    bufferConfig: {
      maxBufferSize: 10000,
      maxEventAge: 3600000,
      enablePersistence: false,
      persistentStoragePath: "./data/event-buffer.json",
      cleanupInterval: 300000,
      maxPersistentSize: 52428800,
      flushBatchSize: 100,
      overflowPolicy: "reject",
    },
    retry: { maxRetries: 5, baseDelay: 1000, maxDelay: 60000, multiplier: 2 },
    circuitBreaker: { failureThreshold: 5, resetTimeout: 30000 },
  });
  assert.equal(DEFAULT_ASYNC_PUBLISH_CONFIG.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
  assert.equal(DEFAULT_ASYNC_PUBLISH_CONFIG.bufferConfig, DEFAULT_EVENT_BUFFER_CONFIG);
  assert.equal(DEFAULT_ASYNC_PUBLISH_CONFIG.retry, DEFAULT_RETRY_CONFIG);
  assert.equal(DEFAULT_ASYNC_PUBLISH_CONFIG.circuitBreaker, DEFAULT_CIRCUIT_BREAKER_CONFIG);
});

Deno.test("the DEFAULT_* constants are frozen", () => {
  for (
    const constant of [
      DEFAULT_ASYNC_PUBLISH_CONFIG,
      DEFAULT_EVENT_BUFFER_CONFIG,
      DEFAULT_RETRY_CONFIG,
      DEFAULT_CIRCUIT_BREAKER_CONFIG,
    ]
  ) {
    assert.ok(Object.isFrozen(constant));
  }
});

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
  assert.deepEqual(config.bufferConfig, { ...DEFAULT_EVENT_BUFFER_CONFIG, maxBufferSize: 500 });
  assert.deepEqual(config.retry, { ...DEFAULT_RETRY_CONFIG, maxRetries: 1 });
  assert.deepEqual(config.circuitBreaker, DEFAULT_CIRCUIT_BREAKER_CONFIG);
});

Deno.test("resolveAsyncPublishConfig() names the dotted field and the bad value", async (t) => {
  const cases: [string, AsyncPublishConfig, string, string][] = [
    ["maxBufferSize", { maxBufferSize: 0 }, "'maxBufferSize' must be", "got 0"],
    ["flushInterval", { flushInterval: -1 }, "'flushInterval'", "got -1"],
    ["maxConcurrency", { maxConcurrency: 2.5 }, "'maxConcurrency'", "got 2.5"],
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

Deno.test("parseRabbitMQConfig() reads every RABBITMQ_* connection variable", () => {
  const config = parseRabbitMQConfig(fakeEnv({
    RABBITMQ_URL: "amqp://u:p@h1:5672",
    RABBITMQ_EXCHANGE: "orders",
    RABBITMQ_EXCHANGE_TYPE: "fanout",
    RABBITMQ_HEARTBEAT: "0",
    RABBITMQ_CONNECTION_NAME: "billing",
    RABBITMQ_DEAD_LETTER_EXCHANGE: "orders.dlx",
    RABBITMQ_DEAD_LETTER_QUEUE: "orders.dlq",
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

Deno.test("a URL password never appears in an error message", () => {
  const urls = [
    `http://user:${PASSWORD}@host:5672`,
    `amqp://user:${PASSWORD}@`,
    `amqp://user:${PASSWORD}@host:notaport`,
    `amqp://user:${PASSWORD}/x@host`,
    `amqp:/user:${PASSWORD}@host`,
    `user:${PASSWORD}@host`,
  ];
  for (const url of urls) {
    assert.ok(!maskUrl(url).includes(PASSWORD), maskUrl(url));
    throwsNaming(() => resolveRabbitMQConfig({ url }), "'url'");
    throwsNaming(() => resolveRabbitMQConfig({ url: ["amqp://ok", url] }), "'url[1]'");
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

Deno.test("maskUrl() replaces the password with ***", () => {
  const cases: [string, string][] = [
    ["amqp://guest:guest@host:5672/vh", "amqp://guest:***@host:5672/vh"],
    ["amqps://app:p%40ss@rabbit.example.com", "amqps://app:***@rabbit.example.com"],
    ["amqp://app:p@ss@host/vh?x=1", "amqp://app:***@host/vh?x=1"],
    ["amqp://app:@host", "amqp://app:***@host"],
    ["amqp://app@host:5672", "amqp://app@host:5672"],
    ["amqp://host:5672/vh@x", "amqp://host:5672/vh@x"],
    ["amqp://localhost", "amqp://localhost"],
    ["", ""],
    ["not a url", "not a url"],
    ["amqp://u:pa/ss@host", "amqp://u:***@host"],
    ["user:secret@host", "user:***@host"],
    ["amqp:/user:secret@host", "amqp:***@host"],
  ];
  for (const [url, masked] of cases) assert.equal(maskUrl(url), masked, url);
});

Deno.test("maskUrl() never throws", () => {
  for (const value of ["::::", "@@@", "amqp://[", "amqp://u:p@[::1", "\u0000", "%zz"]) {
    assert.equal(typeof maskUrl(value), "string");
  }
});

Deno.test("maskCredentials() masks every URL password inside a text", () => {
  assert.equal(
    maskCredentials(
      `connect amqp://a:${PASSWORD}@h1:5672/vh failed; tried amqps://b:x@y@h2 and amqp://h3:5672`,
    ),
    "connect amqp://a:***@h1:5672/vh failed; tried amqps://b:***@h2 and amqp://h3:5672",
  );
  assert.equal(
    maskCredentials(`"url":"amqp://u:${PASSWORD}@h","note":"mail a@b"`),
    `"url":"amqp://u:***@h","note":"mail a@b"`,
  );
  assert.equal(maskCredentials("no credentials here"), "no credentials here");
  assert.equal(maskCredentials("amqp://u:p@h,amqp://v:q@i"), "amqp://u:***@h,amqp://v:***@i");
});
