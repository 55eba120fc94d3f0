// Regression tests for the bugs a code review found (stalls, a crash window,
// a leak, a double owner, wrong receipts), each with the scenario that
// showed it. They must keep passing.

import assert from "node:assert/strict";
import {
  AmqpTransport,
  type AsyncPublishConfig,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  encodeEvent,
  KvStore,
  type PendingRecord,
  type PendingStore,
  type RabbitMQAsyncEventPublisher,
  type StoreLimits,
} from "../mod.ts";
import { FakeTransport, planScript } from "./_fake_transport.ts";
import { poll, sleep, until } from "./_wait.ts";

const EXCHANGE = "x";

let counter = 0;
function event(
  priority: "high" | "normal" | "low" = "normal",
  extra: Partial<DomainEvent> = {},
): DomainEvent {
  const n = ++counter;
  return {
    id: `r${n}`,
    type: "test.happened",
    data: { n },
    metadata: { source: "review", priority },
    ...extra,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "review_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function describe(publisher: RabbitMQAsyncEventPublisher): string {
  const s = publisher.getStats();
  return JSON.stringify({
    size: s.bufferStats.size,
    inFlight: s.inFlightEvents,
    published: s.publishedEvents,
    failed: s.failedEvents,
    dead: s.deadLetteredEvents,
    localDead: s.bufferStats.localDeadLetters,
    circuit: s.circuitState,
    conn: s.connectionState,
    lastError: s.lastError?.message,
  });
}

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

// ---------------------------------------------------------------------------
// 3. Eviction and expiry once deleted the pending record on disk before the
//    dead letter was written: a crash in between lost the event. The store
//    now writes both in one commit, dead letter first.
// ---------------------------------------------------------------------------

/** What is on disk for an event id, read through a second handle on the same file. */
async function onDisk(path: string, id: string): Promise<{ pending: boolean; dead: boolean }> {
  const kv = await Deno.openKv(path);
  try {
    let pending = false;
    let dead = false;
    for await (const e of kv.list<{ id: string }>({ prefix: ["pending"] })) {
      if (e.value.id === id) pending = true;
    }
    for await (const e of kv.list<{ id: string }>({ prefix: ["dead"] })) {
      if (e.value.id === id) dead = true;
    }
    return { pending, dead };
  } finally {
    kv.close();
  }
}

/**
 * Runs `check` against a publisher on a KV store whose broker never answers,
 * so dead letters stay on disk where `onDisk()` can see them.
 */
async function withOfflineKvPublisher(
  limits: StoreLimits,
  config: AsyncPublishConfig,
  check: (publisher: RabbitMQAsyncEventPublisher, store: KvStore, path: string) => Promise<void>,
): Promise<void> {
  await withDir(async (dir) => {
    const path = `${dir}/events.kv`;
    const store = await KvStore.open({ path, limits, memoryLimit: 100 });
    const fake = new FakeTransport({ startConnected: false, reconnectDelayMs: undefined });
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      { flushInterval: 5, ...config },
      { transport: fake, store },
    );
    try {
      await check(publisher, store, path);
    } finally {
      await publisher.close({ timeoutMs: 100 });
      await fake.close();
    }
  });
}

Deno.test("KvStore writes an evicted event's dead letter in the commit that drops it", async () => {
  const limits: StoreLimits = {
    maxEvents: 2,
    maxBytes: 1_000_000,
    overflow: "drop-oldest-lowest-priority",
  };
  await withOfflineKvPublisher(limits, {}, async (publisher, store, path) => {
    const victim = event("low");
    await publisher.publish(victim);
    await publisher.publish(event("low"));
    await publisher.publish(event("normal")); // evicts `victim`
    // Once publish() resolved, the eviction is on disk: as a dead letter, not as nothing.
    assert.deepEqual(await onDisk(path, victim.id), { pending: false, dead: true });
    const [letter] = await store.listDeadLetters();
    assert.equal(letter.reason, "evicted");
  });
});

Deno.test("KvStore writes an expired event's dead letter in the commit that drops it", async () => {
  const limits: StoreLimits = { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" };
  const config = { bufferConfig: { maxEventAge: 50, cleanupInterval: 100 } };
  await withOfflineKvPublisher(limits, config, async (publisher, store, path) => {
    const old = event();
    await publisher.publish(old);
    await until(() => publisher.getStats().deadLetteredEvents === 1, "the expiry", 5_000);
    assert.deepEqual(await onDisk(path, old.id), { pending: false, dead: true });
    const [letter] = await store.listDeadLetters();
    assert.equal(letter.reason, "expired");
  });
});

/** Established TCP connections to the broker's port, as the system lists them. */
async function brokerConnections(): Promise<number> {
  const { stdout } = await new Deno.Command("ss", {
    args: ["-Htn", "state", "established", "( dport = :5672 )"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((line) => line.trim()).length;
}

Deno.test("AmqpTransport.close() during a connection attempt leaves no connection open", async () => {
  const before = await brokerConnections();
  const transport = new AmqpTransport({
    urls: ["amqp://guest:guest@127.0.0.1:5672"],
    exchange: "review.leak",
  });
  const states: string[] = [];
  transport.onStateChange((c) => states.push(c.to));
  const started = transport.start(); // connecting now
  await transport.close(); // while the attempt is in flight
  const connected = await started;
  await sleep(500);
  const after = await brokerConnections();
  // Connections of earlier tests may still be closing, never opening: at most as many.
  assert.ok(
    after <= before,
    `close() resolved, yet ${
      after - before
    } AMQP connection(s) stay open; start() resolved ${connected}; ` +
      `states: ${states.join(" -> ")}`,
  );
});

// ---------------------------------------------------------------------------
// 5. The in-process lock compares path strings: the same file through another
//    spelling of its path is opened twice in one process, each thinking it
//    owns the lease.
// ---------------------------------------------------------------------------

Deno.test("KvStore refuses a second open in one process through another spelling of the path", async () => {
  await withDir(async (dir) => {
    const limits = { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" as const };
    const first = await KvStore.open({ path: `${dir}/events.kv`, limits, memoryLimit: 10 });
    let second: KvStore | undefined;
    try {
      second = await KvStore.open({ path: `${dir}/./events.kv`, limits, memoryLimit: 10 }).catch(
        () => undefined,
      );
      assert.equal(
        second,
        undefined,
        "the second open took over a live lease of this very process",
      );
    } finally {
      await second?.close();
      await first.close();
    }
  });
});

// ---------------------------------------------------------------------------
// 6. #settle() awaits store.remove(confirmed) before it records the breaker
//    outcome, releases the retries and answers the waiters. One failed
//    remove() (a KV commit error) leaves the whole batch in flight for good:
//    never released, the probe (if any) never given back, flush() never idle.
// ---------------------------------------------------------------------------

Deno.test("a failed store.remove() does not leave the batch's events in flight", async () => {
  const { MemoryStore } = await import("../mod.ts");
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
  const { MemoryStore } = await import("../mod.ts");
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
