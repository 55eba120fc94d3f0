import assert from "node:assert/strict";
import {
  DEFAULT_ASYNC_PUBLISH_CONFIG,
  DEFAULT_CIRCUIT_BREAKER_CONFIG,
  DEFAULT_EVENT_BUFFER_CONFIG,
  DEFAULT_RABBITMQ_CONFIG,
  DEFAULT_RETRY_CONFIG,
} from "../../src/config/defaults.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "../../src/event.ts";

Deno.test("the DEFAULT_* constants hold the documented defaults", () => {
  assert.deepEqual(DEFAULT_ASYNC_PUBLISH_CONFIG, {
    maxBufferSize: 1000,
    flushInterval: 5000,
    maxConcurrency: 10,
    maxInFlight: 500,
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
      DEFAULT_RABBITMQ_CONFIG,
    ]
  ) {
    assert.ok(Object.isFrozen(constant));
  }
});
