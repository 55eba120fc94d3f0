import assert from "node:assert/strict";
import {
  type AsyncPublishConfig,
  type CircuitStateChange,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  MemoryStore,
  type PublishReceipt,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";
import { FakeTransport, planScript, randomScript, seededRandom } from "../_fake_transport.ts";
import { sleep, until } from "../_wait.ts";

const EXCHANGE = "x";
const DLX = "x.dead-letter";

let counter = 0;
function event(priority: "high" | "normal" | "low" = "normal"): DomainEvent {
  const n = ++counter;
  return {
    id: `e${n}`,
    type: "test.happened",
    data: { n },
    metadata: { source: "tests", priority },
  };
}

function events(n: number, priority: "high" | "normal" | "low" = "normal"): DomainEvent[] {
  return Array.from({ length: n }, () => event(priority));
}

function newStore(): MemoryStore {
  return new MemoryStore({ maxEvents: 100_000, maxBytes: 100_000_000, overflow: "reject" });
}

// Tiny delays everywhere, and a flush interval short enough that partial
// batches go out at once.
const FAST: AsyncPublishConfig = {
  flushInterval: 5,
  batchSize: 10,
  maxConcurrency: 4,
  publishTimeout: 1_000,
  retry: { maxRetries: 5, baseDelay: 1, maxDelay: 5 },
  circuitBreaker: { failureThreshold: 100, resetTimeout: 200 },
};

async function withFake(
  fake: FakeTransport,
  config: AsyncPublishConfig,
  run: (publisher: RabbitMQAsyncEventPublisher, store: MemoryStore) => Promise<void>,
  onStateChange?: (change: CircuitStateChange) => void,
): Promise<void> {
  const store = newStore();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    { ...FAST, ...config },
    { transport: fake, store, onStateChange },
  );
  try {
    await run(publisher, store);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
}

function drained(publisher: RabbitMQAsyncEventPublisher, fake: FakeTransport): boolean {
  const buffer = publisher.getEventBuffer().getStats();
  return buffer.size === 0 && buffer.localDeadLetters === 0 && fake.inFlight() === 0;
}

function describeState(publisher: RabbitMQAsyncEventPublisher, fake: FakeTransport): string {
  const s = publisher.getStats();
  return JSON.stringify({
    buffer: s.bufferStats.size,
    inFlight: s.inFlightEvents,
    localDeadLetters: s.bufferStats.localDeadLetters,
    published: s.publishedEvents,
    dead: s.deadLetteredEvents,
    circuit: s.circuitState,
    connection: s.connectionState,
    fakeInFlight: fake.inFlight(),
    fakeTimers: fake.pendingTimers,
    sends: fake.sends.length,
  });
}

Deno.test("out-of-order confirms settle the events they belong to", async () => {
  const [a, b, c, d] = events(4);
  // The first sends wait for the test's answers; b's resend is confirmed at once.
  const fake = new FakeTransport({
    script: planScript({ [b.id]: ["hold", "ok"] }, "hold", EXCHANGE),
  });
  await withFake(fake, { batchSize: 4 }, async (publisher, store) => {
    await publisher.publishBatch([a, b, c, d]);
    await until(() => fake.unsettledTags().length === 4, () => describeState(publisher, fake));
    // Tags 1-4 are a, b, c, d: answered b (nack), c, d (returned), a.
    fake.nack(2);
    fake.ack(3);
    fake.returnMessage(4);
    fake.ack(4);
    fake.ack(1);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    // The broker answered b, c, d, a: not the order of sending.
    const first = fake.settlements.filter((s) => s.send === 0).map((s) => s.messageId);
    assert.deepEqual(first, [b.id, c.id, d.id, a.id]);
    // Only the nacked event is sent again, and the returned one is dead, not retried.
    const toExchange = fake.sends.filter((s) => s.exchange === EXCHANGE);
    assert.deepEqual(toExchange.map((s) => s.messageIds), [[a.id, b.id, c.id, d.id], [b.id]]);
    for (const e of [a, b, c]) assert.equal(fake.okCount(e.id, EXCHANGE), 1, e.id);
    assert.equal(fake.okCount(d.id, DLX), 1);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 3);
    assert.equal(stats.deadLetteredEvents, 1);
    assert.equal(stats.failedEvents, 2);
    assert.deepEqual(await store.listDeadLetters(), []);
  });
});

Deno.test("a multiple ack settles every earlier message of the batch", async () => {
  const batch = events(5);
  const last = batch[4];
  const fake = new FakeTransport({
    script: planScript(
      { [last.id]: [{ kind: "ok", delayMs: 15, multiple: true }] },
      "hold",
      EXCHANGE,
    ),
  });
  await withFake(fake, { batchSize: 5 }, async (publisher) => {
    await publisher.publishBatch(batch);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    assert.equal(fake.sends.length, 1);
    assert.deepEqual(fake.confirms, [{
      kind: "ack",
      deliveryTag: 5,
      multiple: true,
      settled: batch.map((e) => e.id),
    }]);
    assert.equal(publisher.getStats().publishedEvents, 5);
    assert.equal(publisher.getStats().failedEvents, 0);
  });
});

Deno.test("acks of ranges settle exactly the messages they cover", async () => {
  const batch = events(6);
  // First sends wait for the test's acks; a resend is confirmed at once.
  const fake = new FakeTransport({ script: (_, { attempt }) => (attempt === 1 ? "hold" : "ok") });
  await withFake(fake, { batchSize: 6 }, async (publisher) => {
    await publisher.publishBatch(batch);
    await until(() => fake.unsettledTags().length === 6, () => describeState(publisher, fake));
    assert.deepEqual(fake.ack(3, { multiple: true }), batch.slice(0, 3).map((e) => e.id));
    // Each confirm counts as it comes, before the rest of the batch is settled.
    await until(
      () => publisher.getStats().publishedEvents === 3,
      () => describeState(publisher, fake),
    );
    assert.deepEqual(fake.nack(4), [batch[3].id]);
    assert.deepEqual(fake.ack(6, { multiple: true }), [batch[4].id, batch[5].id]);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    assert.equal(publisher.getStats().publishedEvents, 6);
    assert.deepEqual(fake.attemptsOf(batch[3].id, EXCHANGE).map((a) => a.outcome), ["nack", "ok"]);
    for (const e of batch) assert.equal(fake.okCount(e.id, EXCHANGE), 1, e.id);
  });
});

Deno.test("a lost confirm times out, and the event is sent again and confirmed", async () => {
  const e = event();
  const fake = new FakeTransport({
    script: planScript({ [e.id]: ["lost", "ok"] }, "ok", EXCHANGE),
  });
  await withFake(fake, { publishTimeout: 100 }, async (publisher) => {
    await publisher.publish(e);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    const attempts = fake.attemptsOf(e.id, EXCHANGE);
    assert.deepEqual(attempts.map((a) => [a.fate, a.outcome, a.sent]), [
      ["lost", "timeout", true],
      ["ok", "ok", undefined],
    ]);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 1);
    assert.equal(stats.unknownOutcomeFailures, 1);
    assert.equal(stats.neverSentFailures, 0);
    assert.equal(stats.deadLetteredEvents, 0);
  });
});

Deno.test("a returned event is dead-lettered as unroutable after exactly one attempt", async () => {
  const [returned, fine] = events(2);
  const fake = new FakeTransport({
    script: planScript({ [returned.id]: ["return"] }, "ok", EXCHANGE),
  });
  await withFake(fake, {}, async (publisher, store) => {
    await publisher.publishBatch([returned, fine]);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    assert.equal(fake.attemptsOf(returned.id, EXCHANGE).length, 1);
    const [shipped] = fake.attemptsOf(returned.id, DLX);
    assert.equal(shipped.outcome, "ok");
    assert.equal(shipped.message.properties.headers["x-dead-letter-reason"], "unroutable");
    assert.equal(shipped.message.properties.headers["x-retry-count"], 1);
    assert.equal(shipped.message.properties.headers["x-original-exchange"], EXCHANGE);
    assert.deepEqual(await store.listDeadLetters(), []);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 1);
    assert.equal(stats.deadLetteredEvents, 1);
    assert.equal(stats.retriedEvents, 0);
  });
});

Deno.test("a channel closing mid-batch fails the unsettled events, which are then delivered", async () => {
  const batch = events(10);
  const plan: Record<string, { kind: "ok" | "channel-close"; delayMs: number }[]> = {};
  batch.forEach((e, i) => {
    plan[e.id] = i < 2
      ? [{ kind: "ok", delayMs: 0 }]
      : i === 5
      ? [{ kind: "channel-close", delayMs: 15 }, { kind: "ok", delayMs: 0 }]
      : [{ kind: "ok", delayMs: 50 }, { kind: "ok", delayMs: 0 }];
  });
  const fake = new FakeTransport({
    script: planScript(plan, "ok", EXCHANGE),
    reconnectDelayMs: 30,
  });
  await withFake(fake, { batchSize: 10 }, async (publisher) => {
    await publisher.publishBatch(batch);
    await until(
      () => drained(publisher, fake) && publisher.getStats().publishedEvents === 10,
      () => describeState(publisher, fake),
    );
    for (const [i, e] of batch.entries()) {
      const outcomes = fake.attemptsOf(e.id, EXCHANGE).map((a) => a.outcome);
      assert.deepEqual(outcomes, i < 2 ? ["ok"] : ["connection-lost", "ok"], e.id);
      assert.equal(fake.okCount(e.id, EXCHANGE), 1);
    }
    assert.deepEqual(
      fake.changes.map((c) => `${c.from}->${c.to}`),
      [
        "disconnected->connecting",
        "connecting->connected",
        "connected->disconnected",
        "disconnected->connecting",
        "connecting->connected",
      ],
    );
    // No send reached the broker while it was down.
    assert(fake.sends.every((s) => s.state === "connected"), JSON.stringify(fake.sends));
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 10);
    assert.equal(stats.unknownOutcomeFailures, 8);
    assert.equal(stats.deadLetteredEvents, 0);
  });
});

Deno.test("a broker close with ACCESS_REFUSED dead-letters that event; the rest are retried", async () => {
  const batch = events(4);
  const fake = new FakeTransport({
    script: planScript(
      { [batch[1].id]: [{ kind: "broker-close", code: 403, delayMs: 5 }] },
      { kind: "ok", delayMs: 20 },
      EXCHANGE,
    ),
    reconnectDelayMs: 10,
  });
  await withFake(fake, { batchSize: 4 }, async (publisher) => {
    await publisher.publishBatch(batch);
    await until(
      () => drained(publisher, fake) && publisher.getStats().publishedEvents === 3,
      () => describeState(publisher, fake),
    );
    const refused = fake.attemptsOf(batch[1].id, EXCHANGE);
    assert.deepEqual(refused.map((a) => [a.outcome, a.code]), [["closed-by-broker", 403]]);
    const [shipped] = fake.attemptsOf(batch[1].id, DLX);
    assert.equal(shipped.message.properties.headers["x-dead-letter-reason"], "access-refused");
    for (const e of [batch[0], batch[2], batch[3]]) {
      assert.deepEqual(fake.attemptsOf(e.id, EXCHANGE).map((a) => a.outcome), [
        "connection-lost",
        "ok",
      ]);
    }
    assert.equal(publisher.getStats().deadLetteredEvents, 1);
  });
});

Deno.test("nacked events are retried, then dead-lettered as max-retries after maxRetries attempts", async () => {
  const [doomed, fine] = events(2);
  const maxRetries = 3;
  // The dead-letter exchange refuses too, so the dead letter stays in the local store.
  const fake = new FakeTransport({
    script: (message) =>
      message.exchange === DLX || message.properties.messageId === doomed.id ? "nack" : "ok",
  });
  await withFake(
    fake,
    { retry: { maxRetries, baseDelay: 1, maxDelay: 5 } },
    async (publisher, store) => {
      await publisher.publishBatch([doomed, fine]);
      await until(
        () => publisher.getEventBuffer().getStats().size === 0 && fake.inFlight() === 0,
        () => describeState(publisher, fake),
      );
      assert.equal(fake.attemptsOf(doomed.id, EXCHANGE).length, maxRetries);
      const letters = await store.listDeadLetters();
      assert.equal(letters.length, 1);
      assert.equal(letters[0].id, doomed.id);
      assert.equal(letters[0].reason, "max-retries");
      assert.equal(letters[0].attempts, maxRetries);
      assert.equal(letters[0].outcomeUnknown, true);
      const stats = publisher.getStats();
      assert.equal(stats.publishedEvents, 1);
      assert.equal(stats.deadLetteredEvents, 1);
      assert.equal(stats.failedEvents, maxRetries);
      assert.equal(stats.bufferStats.localDeadLetters, 1);
    },
  );
});

// Fails against the publisher as it stands: #settle counts a retry only when
// its jittered delay is above 0 ms (`nextAttemptAt > now`), so the counter
// depends on the jitter draw.
Deno.test("retriedEvents counts every rescheduled attempt, even one whose jittered delay is 0 ms", async () => {
  const e = event();
  const fake = new FakeTransport({ script: planScript({ [e.id]: ["nack", "nack", "ok"] }) });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    FAST,
    { transport: fake, store: newStore(), random: () => 0 },
  );
  try {
    await publisher.publish(e);
    await until(() => drained(publisher, fake), () => describeState(publisher, fake));
    assert.equal(fake.attemptsOf(e.id, EXCHANGE).length, 3);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 1);
    assert.equal(stats.failedEvents, 2);
    assert.equal(stats.retriedEvents, 2, "two nacked attempts were rescheduled");
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
  }
});

Deno.test("the breaker opens after failureThreshold failing batches, buffers, then a probe closes it", async () => {
  let failing = true;
  let publisher: RabbitMQAsyncEventPublisher | undefined;
  // The circuit's state when each send started, read as the dispatcher saw it.
  const circuitAtSend: string[] = [];
  const fake = new FakeTransport({
    script: (_, { index }) => {
      if (index === 0) circuitAtSend.push(publisher?.getStats().circuitState ?? "none");
      return failing ? "nack" : "ok";
    },
  });
  const transitions: CircuitStateChange[] = [];
  const resetTimeout = 200;
  await withFake(
    fake,
    {
      batchSize: 2,
      maxConcurrency: 1,
      retry: { maxRetries: 100, baseDelay: 1, maxDelay: 2 },
      circuitBreaker: { failureThreshold: 3, resetTimeout },
    },
    async (p) => {
      publisher = p;
      await p.publishBatch(events(2));
      await until(() => p.getStats().circuitState === "open", () => describeState(p, fake));
      const opened = transitions.find((t) => t.to === "open")!;
      // Three batches failed; a retry may have gone out while a batch was still settling.
      assert(fake.sends.length >= 3, `${fake.sends.length} sends`);
      failing = false;
      const receipts = await Promise.all([p.publish(event("normal")), p.publish(event("high"))]);
      assert.deepEqual(receipts.map((r) => r.status), ["buffered", "buffered"]);
      await until(
        () => p.getStats().circuitState === "closed" && drained(p, fake),
        () => describeState(p, fake),
      );
      assert.deepEqual(transitions.map((t) => `${t.from}->${t.to}`), [
        "closed->open",
        "open->half_open",
        "half_open->closed",
      ]);
      // Nothing was sent while open; one probe went out half open, the rest once it closed.
      const probe = circuitAtSend.indexOf("half_open");
      assert(probe >= 3, String(circuitAtSend));
      assert(
        circuitAtSend.slice(0, probe).every((state) => state === "closed"),
        String(circuitAtSend),
      );
      assert(
        circuitAtSend.slice(probe + 1).every((state) => state === "closed"),
        String(circuitAtSend),
      );
      const early = fake.sends.filter((s) =>
        s.startedAt > opened.at && s.startedAt < opened.at + resetTimeout
      );
      assert.deepEqual(early, []);
      assert.equal(p.getStats().publishedEvents, 4);
    },
    (change) => transitions.push(change),
  );
});

Deno.test("the fake transport's seeded script is reproducible", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const draws = Array.from({ length: 5 }, () => [a(), b()]);
  assert(draws.every(([x, y]) => x === y && x >= 0 && x < 1));
});

// ---- randomised: every accepted event ends exactly once, confirmed or dead-lettered ----

const SEEDS = Deno.env.get("FAKE_SEEDS")?.split(",").map(Number) ?? [11, 22, 33, 44, 55];
const EVENTS_PER_SEED = 500;
const MAX_RETRIES = 4;
const MAX_CONCURRENCY = 4;
const BATCH_SIZE = 8;
const PERMANENT_REASONS = new Set(["max-retries", "unroutable", "access-refused"]);
const silent = { debug() {}, info() {}, warn() {}, error() {} };
// What the random runs produced, over all seeds.
const coverage = new Set<string>();

for (const seed of SEEDS) {
  Deno.test(`random fates and disconnects (seed ${seed}): every accepted event ends exactly once`, async () => {
    console.log(`seed ${seed} (rerun with FAKE_SEEDS=${seed})`);
    const random = seededRandom(seed ^ 0x9e3779b9);
    const main = randomScript(
      {
        ok: 900,
        hold: 5,
        nack: 40,
        return: 8,
        lost: 10,
        "channel-close": 6,
        "broker-close": 2,
        blocked: 2,
        "not-connected": 5,
      },
      { maxDelayMs: 8, multiple: 0.15, code: () => (random() < 0.5 ? 320 : 403) },
    );
    const deadLetters = randomScript({ ok: 95, nack: 3, lost: 2 }, { maxDelayMs: 4 });
    const fake = new FakeTransport({
      seed,
      reconnectDelayMs: 15,
      script: (message, context) =>
        message.exchange === DLX ? deadLetters(message, context) : main(message, context),
    });
    const store = newStore();
    const publisher = await createRabbitMQAsyncEventPublisher(
      { exchange: EXCHANGE },
      {
        flushInterval: 5,
        batchSize: BATCH_SIZE,
        maxConcurrency: MAX_CONCURRENCY,
        publishTimeout: 60,
        retry: { maxRetries: MAX_RETRIES, baseDelay: 2, maxDelay: 20 },
        circuitBreaker: { failureThreshold: 5, resetTimeout: 30 },
        bufferConfig: { cleanupInterval: 50, flushBatchSize: 10 },
      },
      { transport: fake, store, random, logger: silent },
    );
    const accepted = new Set<string>();
    const confirmedReceipts: string[] = [];
    try {
      const priorities = ["high", "normal", "normal", "normal", "low", "low"] as const;
      let published = 0;
      while (published < EVENTS_PER_SEED) {
        const size = Math.min(EVENTS_PER_SEED - published, 1 + Math.floor(random() * 30));
        published += size;
        const chunk = Array.from(
          { length: size },
          () => event(priorities[Math.floor(random() * priorities.length)]),
        );
        let receipts: PublishReceipt[];
        if (random() < 0.3) {
          // One by one, concurrently: high-priority ones wait for their confirm.
          receipts = await Promise.all(chunk.map((e) => publisher.publish(e)));
          for (const r of receipts) {
            if (r.status !== "confirmed") continue;
            // "confirmed" only after the broker confirmed it.
            assert.equal(fake.okCount(r.id, EXCHANGE), 1, `${r.id} resolved confirmed`);
            confirmedReceipts.push(r.id);
          }
        } else {
          receipts = await publisher.publishBatch(chunk);
        }
        for (const r of receipts) accepted.add(r.id);
        if (random() < 0.1) {
          fake.disconnect(new Error("random drop"), {
            reconnectAfterMs: 5 + Math.floor(random() * 40),
          });
        }
        await sleep(Math.floor(random() * 6));
      }
      await until(
        () => drained(publisher, fake),
        () => `seed ${seed}: not drained: ${describeState(publisher, fake)}`,
        30_000,
      );

      assert.equal(accepted.size, EVENTS_PER_SEED);
      const stats = publisher.getStats();
      let confirmed = 0;
      let dead = 0;
      const problems: string[] = [];
      for (const id of accepted) {
        const ok = fake.okCount(id, EXCHANGE);
        const shipped = fake.attemptsOf(id, DLX).filter((a) => a.outcome === "ok");
        confirmed += ok;
        dead += shipped.length;
        if (ok + shipped.length !== 1) {
          problems.push(`${id}: confirmed ${ok} times, dead-lettered ${shipped.length} times`);
          continue;
        }
        if (shipped.length === 0) continue;
        const headers = shipped[0].message.properties.headers;
        const reason = String(headers["x-dead-letter-reason"]);
        const failedSent = fake.attemptsOf(id, EXCHANGE).filter((a) => a.sent === true).length;
        if (!PERMANENT_REASONS.has(reason)) problems.push(`${id}: reason ${reason}`);
        if (headers["x-retry-count"] !== failedSent) {
          problems.push(`${id}: x-retry-count ${headers["x-retry-count"]}, ${failedSent} sent`);
        }
        if (reason === "max-retries" && failedSent !== MAX_RETRIES) {
          problems.push(`${id}: max-retries after ${failedSent} attempts`);
        }
        if (reason !== "max-retries" && failedSent > MAX_RETRIES) {
          problems.push(`${id}: ${failedSent} attempts, more than maxRetries`);
        }
      }
      const strangers = fake.attempts.filter((a) => !accepted.has(a.messageId));
      if (strangers.length > 0) problems.push(`${strangers.length} sends of unknown ids`);
      assert.deepEqual(problems, [], `seed ${seed}`);
      assert.equal(stats.publishedEvents, confirmed, `seed ${seed}: publishedEvents`);
      assert.equal(stats.deadLetteredEvents, dead, `seed ${seed}: deadLetteredEvents`);
      assert.equal(stats.publishedEvents + stats.deadLetteredEvents, accepted.size);
      // The window is counted in events: maxConcurrency × batchSize by default.
      assert(
        fake.peakMessagesInFlight(EXCHANGE) <= MAX_CONCURRENCY * BATCH_SIZE,
        `seed ${seed}: ${fake.peakMessagesInFlight(EXCHANGE)} events in flight at once`,
      );
      // A batch stays active while its outcomes are being settled, after its send.
      assert(stats.peakActiveOperations >= fake.peakInFlight(EXCHANGE));
      for (const a of fake.attempts) coverage.add(a.outcome ?? "unsettled");
      console.log(
        `seed ${seed}: ${fake.sends.length} sends, ${fake.attempts.length} messages, ` +
          `${stats.publishedEvents} confirmed, ${stats.deadLetteredEvents} dead-lettered, ` +
          `${stats.unknownOutcomeFailures} unknown outcomes, ${fake.reconnects} reconnects, ` +
          `peak ${fake.peakInFlight(EXCHANGE)} batches in flight, ` +
          `${confirmedReceipts.length} high-priority receipts confirmed`,
      );
    } finally {
      await publisher.close({ timeoutMs: 1_000 });
      await fake.close();
    }
    assert.equal(fake.pendingTimers, 0);
  });
}

Deno.test("close() in the middle of random failures accounts for every accepted event", async () => {
  const seed = 66;
  console.log(`seed ${seed}`);
  const fake = new FakeTransport({
    seed,
    reconnectDelayMs: 10,
    script: randomScript({ ok: 85, nack: 5, lost: 4, return: 2, "channel-close": 2, hold: 2 }, {
      maxDelayMs: 30,
    }),
  });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: EXCHANGE },
    {
      ...FAST,
      batchSize: 8,
      publishTimeout: 60,
      retry: { maxRetries: 4, baseDelay: 2, maxDelay: 20 },
    },
    { transport: fake, store: newStore(), random: seededRandom(seed), logger: silent },
  );
  const receipts = await publisher.publishBatch(events(300));
  await sleep(20);
  const report = await publisher.close({ timeoutMs: 30 });
  const stats = publisher.getStats();
  assert.equal(fake.pendingTimers, 0);
  assert.equal(fake.inFlight(), 0);
  let confirmed = 0;
  for (const { id } of receipts) {
    const ok = fake.okCount(id, EXCHANGE);
    assert(ok <= 1, `${id} confirmed ${ok} times`);
    confirmed += ok;
  }
  assert.equal(stats.publishedEvents, confirmed);
  assert.equal(
    stats.publishedEvents + stats.deadLetteredEvents + report.remaining,
    receipts.length,
    JSON.stringify({ report, published: stats.publishedEvents, dead: stats.deadLetteredEvents }),
  );
});

if (SEEDS.length >= 5) {
  Deno.test("the random runs, together, produced every outcome", () => {
    const expected = [
      "ok",
      "nack",
      "unroutable",
      "timeout",
      "connection-lost",
      "closed-by-broker",
      "blocked",
      "not-connected",
    ];
    assert.deepEqual(expected.filter((kind) => !coverage.has(kind)), []);
  });
}
