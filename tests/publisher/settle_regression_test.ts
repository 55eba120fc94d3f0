// Regression tests of the settle step: a failed store write does not leave a
// batch in flight, and a high-priority waiter whose event is evicted is told so.

import assert from "node:assert/strict";
import {
  createRabbitMQAsyncEventPublisher,
  MemoryStore,
  type PendingRecord,
  type PendingStore,
} from "../../mod.ts";
import { FakeTransport, planScript } from "../_fake_transport.ts";
import { describe } from "../_pipeline.ts";
import { poll, sleep } from "../_wait.ts";

const EXCHANGE = "x";

// ---------------------------------------------------------------------------
// 6. #settle() awaits store.remove(confirmed) before it records the breaker
//    outcome, releases the retries and answers the waiters. One failed
//    remove() (a KV commit error) leaves the whole batch in flight for good:
//    never released, the probe (if any) never given back, flush() never idle.
// ---------------------------------------------------------------------------

Deno.test("a failed store.remove() does not leave the batch's events in flight", async () => {
  const inner = new MemoryStore({ maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" });
  // The memory store, but its first remove() of confirmed events fails.
  let failures = 1;
  const remove = (records: readonly PendingRecord[]) => {
    if (records.length > 0 && failures-- > 0) {
      return Promise.reject(new Error("simulated KV commit failure"));
    }
    return inner.remove(records);
  };
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === "remove") return remove;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as PendingStore;
  // The first event is confirmed (and its remove fails); the second is nacked
  // once in the same batch and must be retried.
  const fake = new FakeTransport({ script: planScript({ b: ["nack", "ok"] }, "ok", EXCHANGE) });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    {
      batchSize: 10,
      flushInterval: 5,
      publishTimeout: 500,
      retry: { maxRetries: 5, baseDelay: 1, maxDelay: 5 },
    },
    { transport: fake, store },
  );
  try {
    await publisher.publishBatch([
      { id: "a", type: "t", data: {} },
      { id: "b", type: "t", data: {} },
    ]);
    const left = await publisher.flush(1_000);
    assert.equal(
      left,
      0,
      `after one transient remove() failure: ${describe(publisher)}; attempts of b: ${
        fake.attemptsOf("b").length
      }`,
    );
  } finally {
    await publisher.close({ timeoutMs: 100 });
    await fake.close();
  }
});

// ---------------------------------------------------------------------------
// 7. A high-priority publish() awaiting its confirm whose event is evicted by
//    a later one is answered "buffered" after publishTimeout, although the
//    event is in the dead letters (reason "evicted"): #deadLetter() never
//    answers #waiters.
// ---------------------------------------------------------------------------

Deno.test("a waiting high-priority publish() whose event is evicted is answered 'dead-lettered'", async () => {
  const store = new MemoryStore({
    maxEvents: 2,
    maxBytes: 1_000_000,
    overflow: "drop-oldest-lowest-priority",
  });
  const fake = new FakeTransport({ script: () => "hold" });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    { batchSize: 1, maxConcurrency: 1, flushInterval: 5, publishTimeout: 300 },
    { transport: fake, store },
  );
  try {
    await publisher.publish({ id: "n", type: "t", data: {} }); // sent and held: occupies the one slot
    const until = await poll(() => fake.inFlight() === 1, 1_000);
    assert.ok(until);
    const a = publisher.publish({ id: "A", type: "t", data: {}, metadata: { priority: "high" } });
    await sleep(20);
    const b = publisher.publish({ id: "B", type: "t", data: {}, metadata: { priority: "high" } }); // evicts A
    const [ra] = await Promise.all([a, b.catch(() => undefined)]);
    const letters = await store.listDeadLetters();
    assert.deepEqual(letters.map((l) => [l.id, l.reason]), [["A", "evicted"]]);
    assert.equal(ra.status, "dead-lettered", `A's receipt: ${JSON.stringify(ra)}`);
  } finally {
    await publisher.close({ timeoutMs: 100 });
    await fake.close();
  }
});
