// The overflow policy drop-oldest-lowest-priority: when it rejects (and says
// why), and how its evictions are logged: once per burst, with a count.

import assert from "node:assert/strict";
import { TestConsumer, testEvent } from "../_broker.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import { recordingLogger } from "../_logger.ts";
import {
  BufferFullError,
  createRabbitMQAsyncEventPublisher,
  encodeEvent,
  KvStore,
  MemoryStore,
  type PendingStore,
} from "../../mod.ts";

const DROP = "drop-oldest-lowest-priority" as const;
const NO_ROOM = "drop-oldest-lowest-priority evicts only events not in flight and no more " +
  "urgent than the ones arriving";

function record(n: number, priority: "high" | "normal" | "low") {
  return { ...encodeEvent(testEvent(n, priority)), exchange: "x", acceptedAt: Date.now() };
}

for (
  const [name, open] of [
    [
      "MemoryStore",
      () => Promise.resolve(new MemoryStore({ maxEvents: 3, maxBytes: 1e6, overflow: DROP })),
    ],
    [
      "KvStore",
      () =>
        KvStore.open({
          path: ":memory:",
          limits: { maxEvents: 3, maxBytes: 1e6, overflow: DROP },
          memoryLimit: 3,
        }),
    ],
  ] as [string, () => Promise<PendingStore>][]
) {
  Deno.test(`${name} with ${DROP} rejects, saying why, exactly when nothing it may evict makes room`, async () => {
    const store = await open();
    try {
      await store.add([record(1, "normal"), record(2, "normal"), record(3, "high")]);
      // Less urgent than everything pending: nothing may go for it.
      await assert.rejects(
        store.add([record(4, "low")]),
        (error) =>
          error instanceof BufferFullError &&
          error.message === `event buffer is full: 3/3 events, ${error.bytes}/1000000 bytes; ` +
              `${NO_ROOM} (low), and those do not make room`,
      );
      // As urgent as the oldest normal one: that one goes.
      const { evicted } = await store.add([record(5, "normal")]);
      assert.deepEqual(evicted.map((e) => [e.id.split("-")[1], e.reason]), [["1", "evicted"]]);
      // Those in flight are never evicted: with both normal ones sent, a normal newcomer is refused.
      const taken = await store.take(3, Date.now());
      assert.equal(taken.length, 3);
      await assert.rejects(store.add([record(6, "normal")]), new RegExp(`${NO_ROOM} \\(normal\\)`));
      // A batch larger than the whole buffer could never fit.
      await assert.rejects(
        store.add([record(7, "high"), record(8, "high"), record(9, "high"), record(10, "high")]),
        /; the 4 events arriving \(\d+ bytes\) exceed the whole buffer$/,
      );
      await store.release(taken);
      assert.equal((await store.add([record(11, "high")])).evicted.length, 1);
    } finally {
      await store.close();
    }
  });
}

Deno.test("evictions are logged once per burst with their count, not once per event", async () => {
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  proxy.refuse();
  const logger = recordingLogger();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange },
    { bufferConfig: { maxBufferSize: 10, overflowPolicy: DROP } },
    { logger },
  );
  try {
    const before = logger.at("warn").length;
    for (let i = 0; i < 210; i++) await publisher.publish(testEvent(i, "low"));
    assert.equal(publisher.getEventBuffer().getStats().droppedEvents, 200);
    await until(() => {
      const counted = logger.at("warn").slice(before).map((line) =>
        Number(/^buffer full: evicted (\d+) events/.exec(line)?.[1] ?? 0)
      );
      return counted.reduce((a, b) => a + b, 0) === 200;
    }, () => `the eviction lines to count 200: ${JSON.stringify(logger.at("warn").slice(before))}`);
    const lines = logger.at("warn").slice(before).filter((line) => /evicted/.test(line));
    // Every line is a burst's summary; 200 publishes take a few bursts at most.
    assert(lines.length <= 5, `${lines.length} lines for 200 evictions`);
    for (const line of lines) {
      assert.match(
        line,
        /^buffer full: evicted \d+ events to the dead letters in \d+\.\d s \(overflow policy drop-oldest-lowest-priority; low \d+\)$/,
      );
    }
    assert.equal(publisher.getStats().deadLetteredEvents, 200);
  } finally {
    await publisher.close({ timeoutMs: 100 });
  }
});

Deno.test("close() writes the line of an eviction burst still under way", async () => {
  const logger = recordingLogger();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: "amqp://guest:guest@127.0.0.1:1", exchange: "overflow.close" },
    { bufferConfig: { maxBufferSize: 2, overflowPolicy: DROP } },
    { logger },
  );
  for (let i = 0; i < 5; i++) await publisher.publish(testEvent(i, "low"));
  assert(!logger.at("warn").some((line) => line.startsWith("buffer full")));
  await publisher.close({ timeoutMs: 50 });
  assert.equal(
    logger.at("warn").filter((line) => line.startsWith("buffer full: evicted 3 events")).length,
    1,
  );
});
