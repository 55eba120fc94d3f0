// close(): dead letters move to the broker before the connection closes, and
// what is left is counted in the report, kept on disk or reported lost.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import { recordingLogger } from "../_logger.ts";
import { createRabbitMQAsyncEventPublisher, KvStore } from "../../mod.ts";

Deno.test("close() moves new dead letters to the broker before it closes, and warns about none", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  for (let round = 0; round < 3; round++) {
    const logger = recordingLogger();
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange: consumer.exchange },
      // Nothing is sent before close(): the unroutable events become dead letters during it.
      { flushInterval: 60_000, batchSize: 500 },
      { logger },
    );
    await publisher.publishBatch(Array.from({ length: 10 }, (_, i) => testEvent(i)));
    const report = await publisher.close({ timeoutMs: 10_000 });
    assert.deepEqual(report, {
      remaining: 0,
      localDeadLetters: 0,
      timedOut: false,
      persistent: false,
      lost: { events: 0, deadLetters: 0 },
    });
    assert.equal((await consumer.waitForDeadLetters(10)).length, 10, `round ${round}`);
    const moved = logger.lines.filter((l) => /could not be moved/.test(l.text));
    assert.deepEqual(moved, [], `round ${round}`);
    assert.deepEqual(logger.lines.filter((l) => /lost/.test(l.text)), []);
  }
});

Deno.test("close() in memory mode counts what it cannot deliver or move as lost, and warns", async () => {
  await using consumer = await TestConsumer.start();
  await using proxy = await TcpProxy.start();
  const logger = recordingLogger();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50 },
    { bufferConfig: { maxEventAge: 200, cleanupInterval: 50 } },
    { logger },
  );
  proxy.outage();
  await until(() => !publisher.isRabbitMQAvailable, "the outage to be noticed", 5_000);
  await publisher.publishBatch(Array.from({ length: 10 }, (_, i) => testEvent(i)));
  await until(
    () => publisher.getStats().bufferStats.localDeadLetters === 10,
    "ten events to expire into the local dead letters",
  );
  await publisher.publishBatch(Array.from({ length: 4 }, (_, i) => testEvent(100 + i)));
  const report = await publisher.close({ timeoutMs: 100 });
  assert.equal(report.persistent, false);
  // The four new events are pending still, or expired into the dead letters meanwhile.
  assert.equal(report.remaining + report.localDeadLetters, 14);
  assert.deepEqual(report.lost, { events: report.remaining, deadLetters: report.localDeadLetters });
  const closing = logger.lines.filter((l) => /^publisher closed/.test(l.text));
  assert.equal(closing.length, 1);
  assert.equal(closing[0].level, "warn");
  assert.match(
    closing[0].text,
    new RegExp(
      `^publisher closed in \\d+ ms; lost ${report.remaining} pending events and ` +
        `${report.localDeadLetters} local dead letters: persistence is off`,
    ),
  );
});

Deno.test("close() with persistence keeps what is left on disk, reports no loss, and warns about none", async () => {
  await using consumer = await TestConsumer.start();
  await using proxy = await TcpProxy.start();
  const dir = await Deno.makeTempDir({ prefix: "close_test_" });
  const path = `${dir}/events.kv`;
  try {
    const logger = recordingLogger();
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50 },
      {
        bufferConfig: {
          enablePersistence: true,
          persistentStoragePath: path,
          maxEventAge: 200,
          cleanupInterval: 50,
        },
      },
      { logger },
    );
    proxy.outage();
    await until(() => !publisher.isRabbitMQAvailable, "the outage to be noticed", 5_000);
    await publisher.publishBatch(Array.from({ length: 6 }, (_, i) => testEvent(i)));
    await until(
      () => publisher.getStats().bufferStats.localDeadLetters === 6,
      "six events to expire into the local dead letters",
    );
    await publisher.publishBatch(Array.from({ length: 3 }, (_, i) => testEvent(100 + i)));
    const report = await publisher.close({ timeoutMs: 100 });
    assert.equal(report.persistent, true);
    assert.deepEqual(report.lost, { events: 0, deadLetters: 0 });
    assert.equal(report.remaining + report.localDeadLetters, 9);
    const closing = logger.lines.filter((l) => /^publisher closed/.test(l.text));
    assert.deepEqual(closing.map((l) => l.level), ["info"]);
    assert.match(
      closing[0].text,
      new RegExp(
        `; ${report.remaining} pending events and ${report.localDeadLetters} local dead letters ` +
          `kept on disk for the next start$`,
      ),
    );
    const store = await KvStore.open({
      path,
      limits: { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" },
      memoryLimit: 10,
    });
    try {
      assert.equal((await store.listDeadLetters()).length, report.localDeadLetters);
      assert.equal(store.stats().size, report.remaining);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
