// Regression tests: a KV-backed publisher whose backlog is larger than the
// store's in-memory window drains it after failures, and an event near the
// 64 KiB KV value limit still ends as a dead letter.

import assert from "node:assert/strict";
import {
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  encodeEvent,
} from "../../mod.ts";
import { FakeTransport, planScript } from "../_fake_transport.ts";
import { describe, reviewEvent as event, withDir } from "../_pipeline.ts";
import { poll, sleep } from "../_wait.ts";

const EXCHANGE = "x";

// ---------------------------------------------------------------------------
// 1. KvStore: a window full of records that then fail and are released leaves
//    #stalled set forever; nextReadyAt() then answers undefined and the
//    dispatcher never takes again.
// ---------------------------------------------------------------------------

/** A KV-backed publisher whose in-memory window (10) is smaller than the backlogs below. */
function windowConfig(dir: string, publishTimeout: number): AsyncPublishConfig {
  return {
    maxBufferSize: 10, // the in-memory window of the KV store
    batchSize: 10,
    flushInterval: 5,
    maxConcurrency: 4,
    publishTimeout,
    retry: { maxRetries: 5, baseDelay: 20, maxDelay: 50 },
    circuitBreaker: { failureThreshold: 100, resetTimeout: 100 },
    bufferConfig: {
      enablePersistence: true,
      persistentStoragePath: `${dir}/events.kv`,
      flushBatchSize: 10,
    },
  };
}

Deno.test("the KV store drains a backlog larger than its window after the first batch fails", async () => {
  await withDir(async (dir) => {
    // Every event's first attempt is nacked, later attempts are confirmed.
    const fake = new FakeTransport({
      startConnected: false,
      reconnectDelayMs: undefined,
      script: (_m, { attempt }) => (attempt === 1 ? "nack" : "ok"),
    });
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      windowConfig(dir, 1_000),
      { transport: fake },
    );
    try {
      // An outage backlog three times the window.
      for (let i = 0; i < 30; i++) await publisher.publish(event());
      assert.equal(publisher.getStats().bufferStats.size, 30);
      fake.reconnect();
      const drained = await poll(() => publisher.getStats().bufferStats.size === 0, 5_000);
      assert.ok(
        drained,
        `backlog never drained: ${describe(publisher)}, sends=${fake.sends.length}`,
      );
    } finally {
      await publisher.close({ timeoutMs: 200 });
      await fake.close();
    }
  });
});

Deno.test("the KV store resumes after a drop while its whole window was in flight", async () => {
  await withDir(async (dir) => {
    const fake = new FakeTransport({
      startConnected: false,
      reconnectDelayMs: 30,
      // The first attempts are held, then the connection drops; later ones are confirmed.
      script: (_m, { attempt }) => (attempt === 1 ? "hold" : "ok"),
    });
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      windowConfig(dir, 5_000),
      { transport: fake },
    );
    try {
      for (let i = 0; i < 25; i++) await publisher.publish(event());
      fake.reconnect();
      assert.ok(await poll(() => fake.inFlight() > 0, 2_000), "nothing was sent");
      await sleep(50);
      fake.script = () => "ok"; // from now on the broker confirms everything
      fake.disconnect(); // the held batch fails as connection-lost; reconnects after 30 ms
      const drained = await poll(() => publisher.getStats().bufferStats.size === 0, 5_000);
      assert.ok(
        drained,
        `backlog never drained: ${describe(publisher)}, sends=${fake.sends.length}`,
      );
    } finally {
      await publisher.close({ timeoutMs: 200 });
      await fake.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 2. A dead letter is bigger than its pending record (reason, errorMessage AND
//    lastError, failure times). Near Deno KV's 64 KiB value limit,
//    addDeadLetters() throws RangeError inside #settle: the batch is never
//    settled, the event stays "in flight" forever, never retried, never
//    dead-lettered. release() truncates lastError for exactly this reason;
//    addDeadLetters() does not.
// ---------------------------------------------------------------------------

/** The same estimate as kv_store.ts's private recordSize(). */
function kvSize(record: Record<string, unknown> & { body: string }): number {
  const body = /[\u0100-\uffff]/.test(record.body) ? record.body.length * 2 : record.body.length;
  return 40 + body + JSON.stringify({ ...record, body: "" }).length * 2;
}

Deno.test("an unroutable event near the 64 KiB KV value limit is still dead-lettered", async () => {
  await withDir(async (dir) => {
    const type = "t." + "k".repeat(200); // a long (valid, < 255 bytes) routing key
    const make = (pad: number): DomainEvent => ({
      id: "big-unroutable",
      type,
      timestamp: new Date(1_700_000_000_000),
      // One character above U+00FF makes the KV estimate count the body twice.
      data: { pad: "\u0100" + "a".repeat(pad) },
      metadata: { source: "review", priority: "normal" },
    });
    // Size the event so that its pending record is ~300 bytes under the limit.
    const stored = (pad: number) => {
      const encoded = encodeEvent(make(pad), { maxMessageBytes: 61_440 });
      return kvSize({
        ...encoded,
        exchange: EXCHANGE,
        acceptedAt: Date.now(),
        seq: 1,
        attempts: 0,
        nextAttemptAt: Date.now(),
      });
    };
    let pad = 20_000;
    while (stored(pad + 1) <= 65_536 - 300) pad++;
    const errors: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (...a: unknown[]) => errors.push(a.join(" ")),
    };
    const fake = new FakeTransport({ script: planScript({}, "return", EXCHANGE) });
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      {
        batchSize: 10,
        flushInterval: 5,
        publishTimeout: 1_000,
        bufferConfig: { enablePersistence: true, persistentStoragePath: `${dir}/events.kv` },
      },
      { transport: fake, logger },
    );
    try {
      const receipt = await publisher.publish(make(pad));
      assert.equal(receipt.status, "queued");
      const done = await poll(() => publisher.getStats().deadLetteredEvents === 1, 3_000);
      assert.ok(
        done,
        `not dead-lettered: ${describe(publisher)}; attempts=${
          fake.attemptsOf("big-unroutable").length
        }; ` +
          `logged errors: ${errors.join(" | ").slice(0, 300)}`,
      );
      assert.equal(publisher.getStats().bufferStats.size, 0);
    } finally {
      await publisher.close({ timeoutMs: 200 });
      await fake.close();
    }
  });
});
