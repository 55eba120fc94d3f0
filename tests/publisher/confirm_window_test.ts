// The confirm window slides: events in flight are bounded by a count of
// events (`maxInFlight`, by default `maxConcurrency × batchSize`), and a slot
// frees with each confirm, not when a whole batch is settled. Outcomes that
// come out of order, in multiple acks, or as returns between acks settle
// each event on its own.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { until } from "../_wait.ts";
import { assertAddsUp, EXCHANGE, ledger, newEvents, publisherOn, snapshot } from "./_ledger.ts";

Deno.test("one unconfirmed event holds one slot of the window, not its whole batch", async () => {
  const events = newEvents(30);
  const held = events[0];
  const fake = new FakeTransport({
    script: (message, { attempt }) =>
      message.exchange === EXCHANGE && message.properties.messageId === held.id && attempt === 1
        ? "hold"
        : { kind: "ok", delayMs: 1 },
  });
  // A window of 10 events: one batch of 10 at a time.
  const { publisher, store } = await publisherOn(fake, { batchSize: 10, maxConcurrency: 1 });
  try {
    await publisher.publishBatch(events);
    // The 29 others go through the 9 free slots while the first waits.
    await until(
      () => publisher.getStats().publishedEvents === 29,
      () => `29 confirmed while one is held: ${snapshot(publisher, fake)}`,
      5_000,
    );
    assert.equal(fake.messagesInFlight(EXCHANGE), 1);
    fake.ack(fake.attemptsOf(held.id, EXCHANGE)[0].deliveryTag);
    await until(() => store.counts().size === 0, () => snapshot(publisher, fake));
    assert(fake.peakMessagesInFlight(EXCHANGE) <= 10, `${fake.peakMessagesInFlight(EXCHANGE)}`);
    const account = await ledger(fake, store, events.map((e) => e.id));
    assertAddsUp(account, 30);
    assert.equal(account.confirmed.length, 30);
    for (const e of events) assert.equal(fake.attemptsOf(e.id, EXCHANGE).length, 1, e.id);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("maxInFlight bounds the events awaiting confirms, whatever the batches", async () => {
  const events = newEvents(300);
  const fake = new FakeTransport({ script: () => ({ kind: "ok", delayMs: 3 }) });
  const { publisher, store } = await publisherOn(fake, {
    batchSize: 10,
    maxConcurrency: 10,
    maxInFlight: 25,
  });
  try {
    await publisher.publishBatch(events);
    await until(() => store.counts().size === 0, () => snapshot(publisher, fake));
    assert(fake.peakMessagesInFlight(EXCHANGE) <= 25, `${fake.peakMessagesInFlight(EXCHANGE)}`);
    assert.equal(publisher.getStats().publishedEvents, 300);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("returns between acks and out-of-order multiple acks settle each event on its own, as they come", async () => {
  const events = newEvents(20);
  const fake = new FakeTransport({
    script: (
      message,
      { attempt },
    ) => (message.exchange === EXCHANGE && attempt === 1 ? "hold" : "ok"),
  });
  const { publisher, store } = await publisherOn(fake, { batchSize: 20, maxConcurrency: 1 });
  const idOf = (tag: number) => events[tag - 1].id;
  try {
    await publisher.publishBatch(events);
    await until(() => fake.unsettledTags().length === 20, () => snapshot(publisher, fake));
    // basic.return for 3 and 7, then one multiple ack up to 8.
    fake.returnMessage(3);
    fake.returnMessage(7);
    assert.deepEqual(fake.ack(8, { multiple: true }), [1, 2, 3, 4, 5, 6, 7, 8].map(idOf));
    // Settled as they came: the six confirms count before the batch is over.
    await until(
      () => publisher.getStats().publishedEvents === 6,
      () => `six confirms counted: ${snapshot(publisher, fake)}`,
      5_000,
    );
    // Then a single ack ahead of the rest, a nack, a return, and a multiple ack.
    assert.deepEqual(fake.ack(15), [idOf(15)]);
    assert.deepEqual(fake.nack(10), [idOf(10)]);
    fake.returnMessage(12);
    assert.deepEqual(
      fake.ack(20, { multiple: true }),
      [9, 11, 12, 13, 14, 16, 17, 18, 19, 20].map(idOf),
    );
    await until(
      () => store.counts().size === 0 && fake.messagesInFlight() === 0,
      () => snapshot(publisher, fake),
    );
    const account = await ledger(fake, store, events.map((e) => e.id));
    assertAddsUp(account, 20);
    assert.deepEqual(
      [...account.deadLettered].sort(),
      [[idOf(12), "unroutable"], [idOf(3), "unroutable"], [idOf(7), "unroutable"]].sort(),
    );
    assert.equal(account.confirmed.length, 17);
    // Only the nacked one went twice.
    assert.deepEqual(fake.attemptsOf(idOf(10), EXCHANGE).map((a) => a.outcome), ["nack", "ok"]);
    const stats = publisher.getStats();
    assert.equal(stats.publishedEvents, 17);
    assert.equal(stats.deadLetteredEvents, 3);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});
