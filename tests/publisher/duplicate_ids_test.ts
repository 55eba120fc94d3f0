// Duplicate ids: a publish() of an id that is still pending is idempotent.
// It stores nothing new, answers with the pending event's receipt (a
// high-priority one awaits the same confirm), and counts
// `deduplicatedEvents`. Two accepted events never share one outcome. The
// real-broker case (both unroutable) is in duplicate_ids_broker_test.ts.

import assert from "node:assert/strict";
import { KvStore } from "../../mod.ts";
import { FakeTransport } from "../_fake_transport.ts";
import { until } from "../_wait.ts";
import { assertAddsUp, EXCHANGE, ledger, newEvents, publisherOn, snapshot } from "./_ledger.ts";

const holdFirst = (message: { exchange: string }, { attempt }: { attempt: number }) =>
  message.exchange === EXCHANGE && attempt === 1 ? "hold" as const : "ok" as const;

Deno.test("publish() of an id still pending stores nothing new and answers with the pending event's receipt", async () => {
  const [first] = newEvents(1);
  const again = { ...first, data: { other: true } };
  const fake = new FakeTransport({ script: holdFirst });
  const { publisher, store } = await publisherOn(fake);
  try {
    assert.deepEqual(await publisher.publish(first), { id: first.id, status: "queued" });
    await until(() => fake.unsettledTags().length === 1, () => snapshot(publisher, fake));
    assert.deepEqual(await publisher.publish(again), { id: first.id, status: "queued" });
    assert.equal(store.counts().size, 1);
    assert.equal(publisher.getStats().deduplicatedEvents, 1);
    fake.ack(fake.unsettledTags()[0]);
    await until(() => store.counts().size === 0, () => snapshot(publisher, fake));
    // The pending event went, once; the duplicate's data never did.
    const sent = fake.attemptsOf(first.id, EXCHANGE);
    assert.equal(sent.length, 1);
    assert.deepEqual(JSON.parse(sent[0].message.body).data, first.data);
    assert.equal(publisher.getStats().publishedEvents, 1);
    assertAddsUp(await ledger(fake, store, [first.id]), 1);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("a high-priority publish() of an id still pending awaits the pending event's confirm", async () => {
  const [first] = newEvents(1, "high");
  const fake = new FakeTransport({ script: holdFirst });
  const { publisher, store } = await publisherOn(fake);
  try {
    const receipt = publisher.publish(first);
    await until(() => fake.unsettledTags().length === 1, () => snapshot(publisher, fake));
    const duplicate = publisher.publish({ ...first, data: { again: true } });
    fake.ack(fake.unsettledTags()[0]);
    assert.deepEqual(await receipt, { id: first.id, status: "confirmed" });
    assert.deepEqual(await duplicate, { id: first.id, status: "confirmed" });
    assert.equal(fake.attemptsOf(first.id, EXCHANGE).length, 1);
    const stats = publisher.getStats();
    assert.equal(stats.deduplicatedEvents, 1);
    assert.equal(stats.publishedEvents, 1);
    assertAddsUp(await ledger(fake, store, [first.id]), 1);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("publish() of an id still being committed to Deno KV answers with that event's receipt, stored once", async () => {
  const [old, first] = newEvents(2);
  // Full with one event: the next add() evicts it, and while that read and
  // commit are under way, the new event is known only as being stored.
  const limits = {
    maxEvents: 1,
    maxBytes: 1_000_000,
    overflow: "drop-oldest-lowest-priority" as const,
  };
  const kv = await KvStore.open({ path: ":memory:", limits, memoryLimit: 1 });
  const fake = new FakeTransport();
  // A batch of 10 is not due: the events wait until flush().
  const { publisher, store } = await publisherOn(fake, { flushInterval: 60_000 }, kv);
  try {
    await publisher.publish(old);
    // In one tick: the second call comes while the first one is being stored.
    const receipts = [
      publisher.publish(first),
      publisher.publish({ ...first, data: { again: 1 } }),
    ];
    assert.deepEqual(await Promise.all(receipts), [
      { id: first.id, status: "queued" },
      { id: first.id, status: "queued" },
    ]);
    assert.equal(store.counts().size, 1);
    assert.equal(publisher.getStats().deduplicatedEvents, 1);
    await publisher.flush(5_000);
    const sent = fake.attemptsOf(first.id, EXCHANGE);
    assert.equal(sent.length, 1);
    assert.deepEqual(JSON.parse(sent[0].message.body).data, first.data);
    assert.equal(publisher.getStats().publishedEvents, 1);
    // The evicted event's dead letter is shipped to the broker, then dropped here.
    await until(() => store.stats().deadLetters === 0, () => snapshot(publisher, fake));
    const account = await ledger(fake, store, [old.id, first.id]);
    assert.deepEqual(account.confirmed, [first.id]);
    assert.equal(account.deadLettered.get(old.id), "evicted");
    assertAddsUp(account, 2);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await store.close();
    await fake.close();
  }
});

Deno.test("publishBatch() with one id twice keeps the first event and answers both", async () => {
  const [a, c] = newEvents(2);
  const b = { ...a, data: { second: true } };
  const fake = new FakeTransport();
  const { publisher, store } = await publisherOn(fake);
  try {
    const receipts = await publisher.publishBatch([a, b, c]);
    assert.deepEqual(receipts.map((r) => r.id), [a.id, a.id, c.id]);
    assert.equal(publisher.getStats().deduplicatedEvents, 1);
    await until(() => store.counts().size === 0, () => snapshot(publisher, fake));
    assert.equal(fake.attemptsOf(a.id, EXCHANGE).length, 1);
    assert.deepEqual(JSON.parse(fake.attemptsOf(a.id, EXCHANGE)[0].message.body).data, a.data);
    const account = await ledger(fake, store, [a.id, c.id]);
    assertAddsUp(account, 2);
    assert.equal(account.confirmed.length, 2);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});

Deno.test("an id published again after its event was dead-lettered is a new event with its own outcome", async () => {
  const [first] = newEvents(1);
  const later = { ...first, data: { later: true } };
  // The first event is returned (unroutable); the second, same id, is confirmed.
  let returned = false;
  const fake = new FakeTransport({
    script: (message) => {
      if (message.exchange !== EXCHANGE || returned) return "ok";
      returned = true;
      return "return";
    },
  });
  const { publisher, store } = await publisherOn(fake);
  try {
    await publisher.publish(first);
    await until(
      () => store.counts().size === 0 && publisher.getStats().deadLetteredEvents === 1,
      () => snapshot(publisher, fake),
    );
    await publisher.publish(later);
    await until(() => publisher.getStats().publishedEvents === 1, () => snapshot(publisher, fake));
    const stats = publisher.getStats();
    assert.equal(stats.deduplicatedEvents, 0);
    assert.equal(stats.deadLetteredEvents, 1);
    assert.deepEqual(
      fake.attemptsOf(first.id, EXCHANGE).map((a) => a.outcome),
      ["unroutable", "ok"],
    );
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});
