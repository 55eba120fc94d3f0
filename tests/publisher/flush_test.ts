// flush() waits for real progress: a confirm, a change of the connection or
// the circuit, or its timeout. It never spins while nothing can be sent.

import assert from "node:assert/strict";
import { TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { TcpProxy } from "../_proxy.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, type RabbitMQAsyncEventPublisher } from "../../mod.ts";

async function withOutage(
  fn: (
    publisher: RabbitMQAsyncEventPublisher,
    proxy: TcpProxy,
    consumer: TestConsumer,
  ) => Promise<void>,
): Promise<void> {
  await using consumer = await TestConsumer.start();
  await using proxy = await TcpProxy.start();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50, reconnectMaxDelay: 100 },
    { flushInterval: 20 },
    { logger: silent },
  );
  try {
    proxy.outage();
    await until(() => !publisher.isRabbitMQAvailable, "the outage to be noticed", 5_000);
    await publisher.publishBatch(Array.from({ length: 20 }, (_, i) => testEvent(i)));
    await fn(publisher, proxy, consumer);
  } finally {
    await publisher.close({ timeoutMs: 2_000 });
  }
}

Deno.test("a flush() loop during an outage waits instead of spinning, and timers keep firing", async () => {
  await withOutage(async (publisher) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let calls = 0;
    const started = Date.now();
    try {
      while (Date.now() - started < 1_000 && await publisher.flush({ timeoutMs: 100 }) > 0) {
        calls++;
      }
    } finally {
      clearInterval(timer);
    }
    // Each call waited its timeout: about ten in a second, never a million.
    assert(calls >= 1 && calls <= 12, `${calls} flush() calls in a second`);
    assert(ticks >= 5, `a 10 ms timer fired ${ticks} times`);
    const one = Date.now();
    assert.equal(await publisher.flush({ timeoutMs: 150 }), 20);
    assert(Date.now() - one >= 140, "flush() returned before its timeout while nothing changed");
  });
});

Deno.test("flush() returns when the connection comes back, long before its timeout", async () => {
  await withOutage(async (publisher, proxy, consumer) => {
    let settled = false;
    const waiting = publisher.flush({ timeoutMs: 60_000 }).finally(() => settled = true);
    await until(() => publisher.getStats().reconnectAttempts > 0, "a failed reconnect", 5_000);
    assert.equal(settled, false);
    proxy.restore();
    await until(() => settled, "flush() to see the reconnect", 10_000);
    await waiting;
    assert.equal(await publisher.flush({ timeoutMs: 10_000 }), 0);
    assert.equal((await consumer.waitFor(20)).length >= 20, true);
  });
});

Deno.test("flush() rejects with the signal's reason when aborted, and refuses a bad timeout", async () => {
  await withOutage(async (publisher) => {
    const controller = new AbortController();
    const waiting = publisher.flush({ timeoutMs: 60_000, signal: controller.signal });
    const reason = new Error("shutting down");
    controller.abort(reason);
    await assert.rejects(waiting, (error) => error === reason);
    await assert.rejects(
      publisher.flush({ signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
    for (const bad of [0, -1, Number.NaN]) {
      await assert.rejects(
        publisher.flush({ timeoutMs: bad }),
        new RangeError(`'timeoutMs' must be a positive number: got ${bad}`),
      );
    }
    // The number form keeps working.
    assert.equal(await publisher.flush(50), 20);
  });
});
