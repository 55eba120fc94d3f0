// A channel the broker closes because of one event (404, 406, 403, too
// large) is that event's outcome alone: its neighbours in flight on the same
// channel were not refused, go again with no attempt charged, and the
// connection and the circuit stay as they were. Scripted with the fake
// transport; the real-broker cases are in channel_refusal_broker_test.ts.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { until } from "../_wait.ts";
import {
  assertAddsUp,
  DLX,
  EXCHANGE,
  ledger,
  newEvents,
  publisherOn,
  snapshot,
} from "./_ledger.ts";

const TOO_LARGE = "PRECONDITION_FAILED - message size 2097152 is larger than configured max size " +
  "1048576";

Deno.test("a channel refused over one of 500 events in flight dead-letters that event alone; its 499 neighbours go again with no attempt charged", async () => {
  const batch = newEvents(500);
  // Every first send waits for the test; a resend is confirmed at once.
  const fake = new FakeTransport({
    script: (
      message,
      { attempt },
    ) => (message.exchange === EXCHANGE && attempt === 1 ? "hold" : "ok"),
  });
  const { publisher, store, circuit } = await publisherOn(fake, {
    batchSize: 50,
    maxConcurrency: 10,
  });
  try {
    await publisher.publishBatch(batch);
    await until(() => fake.unsettledTags().length === 500, () => snapshot(publisher, fake));
    const culprit = fake.attempts.find((a) => a.deliveryTag === 250)!;
    const neighbours = fake.refuse(culprit.deliveryTag, { code: 406, text: TOO_LARGE });
    assert.equal(neighbours.length, 499);
    await until(
      () => store.counts().size === 0 && fake.messagesInFlight() === 0,
      () => snapshot(publisher, fake),
    );

    const account = await ledger(fake, store, batch.map((e) => e.id));
    assertAddsUp(account, 500);
    assert.equal(account.confirmed.length, 499);
    assert.deepEqual([...account.deadLettered], [[culprit.messageId, "too-large"]]);
    // The refused event was tried once; its dead letter says so.
    assert.equal(fake.attemptsOf(culprit.messageId, EXCHANGE).length, 1);
    const [shipped] = fake.attemptsOf(culprit.messageId, DLX);
    assert.equal(shipped.message.properties.headers["x-retry-count"], 1);
    // Each neighbour: its first send was cut by the refusal, the second confirmed.
    for (const id of neighbours) {
      assert.deepEqual(
        fake.attemptsOf(id, EXCHANGE).map((a) => a.outcome),
        ["channel-closed", "ok"],
        id,
      );
    }
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 499);
    assert.equal(stats.deadLetteredEvents, 1);
    // One delivery attempt failed: the refused one. Nobody waited out a backoff.
    assert.equal(stats.failedEvents, 1, snapshot(publisher, fake));
    assert.equal(stats.retriedEvents, 0);
    // The connection never dropped, and the circuit never opened.
    assert.deepEqual(fake.changes.map((c) => c.to), ["connecting", "connected"]);
    assert.deepEqual(circuit, []);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("an event whose exchange is missing (404) is retried with backoff and dead-lettered after maxRetries; its neighbours are confirmed once each", async () => {
  const batch = newEvents(30);
  const missing = batch[10];
  const maxRetries = 3;
  const fake = new FakeTransport({
    script: (message) =>
      message.exchange === EXCHANGE && message.properties.messageId === missing.id
        ? { kind: "refuse", code: 404, text: "NOT_FOUND - no exchange 'gone' in vhost '/'" }
        : { kind: "ok", delayMs: 5 },
  });
  const { publisher, store, circuit } = await publisherOn(fake, {
    retry: { maxRetries, baseDelay: 5, maxDelay: 20 },
    // Two failing batches would open a circuit that counted channel refusals.
    circuitBreaker: { failureThreshold: 2, resetTimeout: 60_000 },
  });
  try {
    await publisher.publishBatch(batch);
    await until(
      () => store.counts().size === 0 && fake.messagesInFlight() === 0,
      () => snapshot(publisher, fake),
    );
    const account = await ledger(fake, store, batch.map((e) => e.id));
    assertAddsUp(account, 30);
    assert.equal(account.confirmed.length, 29);
    assert.deepEqual([...account.deadLettered], [[missing.id, "max-retries"]]);
    const tries = fake.attemptsOf(missing.id, EXCHANGE);
    assert.deepEqual(tries.map((a) => [a.outcome, a.code]), [
      ["closed-by-broker", 404],
      ["closed-by-broker", 404],
      ["closed-by-broker", 404],
    ]);
    const [shipped] = fake.attemptsOf(missing.id, DLX);
    assert.equal(shipped.message.properties.headers["x-retry-count"], maxRetries);
    for (const e of batch) {
      if (e !== missing) assert.equal(fake.okCount(e.id, EXCHANGE), 1, e.id);
    }
    const stats = publisher.getStats();
    assert.equal(stats.failedEvents, maxRetries, snapshot(publisher, fake));
    assert.equal(stats.retriedEvents, maxRetries - 1);
    assert.equal(fake.refusals.length, maxRetries);
    assert.deepEqual(fake.changes.map((c) => c.to), ["connecting", "connected"]);
    assert.deepEqual(circuit.map((c) => c.to), [], "a channel refusal is not a broker outage");
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});
