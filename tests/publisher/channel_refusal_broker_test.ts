// A 404 against the real broker: events stored for an exchange that no
// longer exists (a persisted buffer from an earlier configuration). Each of
// them is refused alone and retried with backoff until it is a `max-retries`
// dead letter; the healthy events next to them are delivered with no attempt
// charged; the connection stays up and the circuit closed.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent, uniqueName } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import {
  AmqpTransport,
  type CircuitStateChange,
  createRabbitMQAsyncEventPublisher,
} from "../../mod.ts";

Deno.test("events stored for a deleted exchange are refused alone (404) and dead-lettered after maxRetries; their neighbours are delivered with no attempt charged", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.kv`;
  const persistence = { enablePersistence: true, persistentStoragePath: path };
  try {
    // An earlier run, with another exchange and the broker out of reach, left 5 events on disk.
    await using proxy = await TcpProxy.start();
    proxy.refuse();
    const earlier = await createRabbitMQAsyncEventPublisher(
      { url: proxy.url, exchange: uniqueName("outcomes.gone") },
      { bufferConfig: persistence },
      { logger: silent },
    );
    const stale = Array.from({ length: 5 }, (_, i) => testEvent(i));
    await earlier.publishBatch(stale);
    assert.equal((await earlier.close({ timeoutMs: 0 })).remaining, 5);

    await using consumer = await TestConsumer.start();
    const transport = new AmqpTransport({
      urls: [BROKER_URL],
      exchange: consumer.exchange,
      deadLetter: { exchange: consumer.deadLetterExchange, queue: consumer.deadLetterQueue },
      logger: silent,
    });
    const connection: string[] = [];
    transport.onStateChange((c) => connection.push(c.to));
    const circuit: CircuitStateChange[] = [];
    const maxRetries = 3;
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange: consumer.exchange },
      {
        flushInterval: 20,
        retry: { maxRetries, baseDelay: 50, maxDelay: 200 },
        circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 },
        bufferConfig: persistence,
      },
      { transport, logger: silent, onStateChange: (c) => circuit.push(c) },
    );
    try {
      const fresh = Array.from({ length: 10 }, (_, i) => testEvent(100 + i));
      await publisher.publishBatch(fresh);
      await until(
        () => publisher.getStats().bufferStats.size === 0,
        () => JSON.stringify(publisher.getStats()),
        30_000,
      );
      await consumer.waitFor(10);
      await publisher.flush(1_000);
      // Every fresh event arrived; no stale one did. A fresh one written before a
      // refused one lost its confirm with the channel and went again: it may arrive
      // twice (at least once), so copies are bounded by the events sent again.
      const received = consumer.messages.map((m) => m.properties.messageId ?? "");
      assert.deepEqual([...new Set(received)].sort(), fresh.map((e) => e.id).sort());
      const copies = received.length - fresh.length;
      assert(copies <= publisher.getStats().resentEvents, `${copies} copies`);
      const { letters } = await publisher.deadLetters.list();
      assert.deepEqual(letters.map((l) => l.id).sort(), stale.map((e) => e.id).sort());
      for (const letter of letters) {
        assert.equal(letter.reason, "max-retries");
        assert.equal(letter.attempts, maxRetries);
        assert.match(letter.errorMessage ?? "", /NOT_FOUND|404/);
      }
      const stats = publisher.getStats();
      assert.equal(stats.publishedEvents, 10);
      assert.equal(stats.deadLetteredEvents, 5);
      assert.equal(stats.failedEvents, 5 * maxRetries, "only the refused events spent attempts");
      // delivered 10 + dead-lettered 5 + pending 0 = 15 accepted.
      assert.equal(stats.publishedEvents + stats.deadLetteredEvents + stats.bufferStats.size, 15);
      // Connected once, at start, and never went down.
      assert.deepEqual(connection, ["connecting", "connected"]);
      assert.deepEqual(circuit.map((c) => c.to), [], "the circuit never opened");
    } finally {
      await publisher.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
