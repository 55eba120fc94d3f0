import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import {
  BoundQueue,
  localDeadLetter,
  openDeadLetterQueue,
  seedUnroutable,
  silent,
} from "../_dead_letters.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, DeadLetterQueue, MemoryStore } from "../../mod.ts";

const LIMITS = { maxEvents: 100, maxBytes: 1_000_000, overflow: "reject" } as const;

Deno.test("an unroutable event lands in the broker's dead-letter queue with its failure", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await using dlq = openDeadLetterQueue(consumer);
  const event = testEvent(1);
  const before = Date.now();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url: BROKER_URL, exchange: consumer.exchange },
    { flushInterval: 20 },
    { logger: silent },
  );
  try {
    await publisher.publish(event);
    await until(async () => (await dlq.count()).broker === 1, "the dead letter");
  } finally {
    await publisher.close();
  }
  assert.deepEqual(await dlq.count(), { local: 0, broker: 1, total: 1 });
  const [letter, ...more] = (await dlq.list()).letters;
  assert.equal(more.length, 0);
  assert.equal(letter.id, event.id);
  assert.equal(letter.type, "test.happened");
  assert.equal(letter.location, "broker");
  assert.equal(letter.reason, "unroutable");
  assert.equal(letter.attempts, 1);
  assert.equal(letter.errorName, "TransportError");
  assert.match(letter.errorMessage ?? "", /unroutable/);
  assert.equal(letter.originalExchange, consumer.exchange);
  assert.equal(letter.originalRoutingKey, "test.happened");
  for (const at of [letter.firstFailureAt, letter.lastFailureAt, letter.deadLetteredAt]) {
    assert(at !== undefined && at >= before - 1_000 && at <= Date.now(), `bad time ${at}`);
  }
  assert.deepEqual(JSON.parse(letter.body).data, { n: 1 });
  assert.equal(letter.properties.messageId, event.id);
  assert.equal(letter.properties.headers["event-source"], "tests");
  assert(!Object.keys(letter.properties.headers).some((name) => name.startsWith("x-")));
});

Deno.test("list() is non-destructive: the same dead letters every time, count unchanged", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const ids = await seedUnroutable(consumer, 3);
  await using dlq = openDeadLetterQueue(consumer);
  const first = await dlq.list();
  const second = await dlq.list();
  assert.equal(first.brokerAvailable, true);
  assert.deepEqual(first.letters.map((l) => l.id).sort(), [...ids].sort());
  assert.deepEqual(second, first);
  assert.deepEqual(await dlq.count(), { local: 0, broker: 3, total: 3 });
  assert.equal((await dlq.list({ limit: 2 })).letters.length, 2);
  assert.equal((await dlq.count()).broker, 3);
});

Deno.test("replay() delivers a dead letter to its original destination and removes it", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [id] = await seedUnroutable(consumer, 1);
  await using bound = await BoundQueue.bind(consumer.exchange);
  await using dlq = openDeadLetterQueue(consumer);
  const progress: [number, number][] = [];
  const result = await dlq.replay(undefined, { onProgress: (d, t) => progress.push([d, t]) });
  assert.deepEqual(result, { replayed: [id], failed: [] });
  assert.deepEqual(progress.at(-1), [1, 1]);
  assert.deepEqual(await dlq.count(), { local: 0, broker: 0, total: 0 });
  const [message, ...more] = await bound.drain();
  assert.equal(more.length, 0);
  assert.equal(message.properties.messageId, id);
  assert.equal(message.exchange, consumer.exchange);
  assert.equal(message.routingKey, "test.happened");
  assert.equal(message.properties.deliveryMode, 2);
  assert.equal(message.properties.headers?.["event-source"], "tests");
  assert.equal(message.properties.headers?.["x-dead-letter-reason"], undefined);
  assert.equal(message.properties.headers?.["x-retry-count"], undefined);
  assert.equal(message.properties.headers?.["x-error-message"], undefined);
  assert.deepEqual(JSON.parse(message.bodyToString() ?? "").data, { n: 0 });
});

Deno.test("replay() of a still-unroutable dead letter reports it failed and keeps it", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const ids = await seedUnroutable(consumer, 2);
  await using dlq = openDeadLetterQueue(consumer);
  const result = await dlq.replay([ids[0], "no-such-id"]);
  assert.deepEqual(result.replayed, []);
  assert.deepEqual(result.failed.map((f) => f.id), [ids[0], "no-such-id"]);
  assert.match(result.failed[0].error, /unroutable/);
  assert.match(result.failed[1].error, /not found/);
  assert.deepEqual(await dlq.count(), { local: 0, broker: 2, total: 2 });
  assert.deepEqual((await dlq.list()).letters.map((l) => l.id).sort(), [...ids].sort());
});

Deno.test("replay() works through a queue deeper than one chunk, leaving unselected letters", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const ids = await seedUnroutable(consumer, 250);
  await using bound = await BoundQueue.bind(consumer.exchange);
  await using dlq = openDeadLetterQueue(consumer);
  const chosen = [ids[3], ids[120], ids[249]];
  const progress: [number, number][] = [];
  const some = await dlq.replay(chosen, { onProgress: (d, t) => progress.push([d, t]) });
  assert.deepEqual(some.replayed.sort(), [...chosen].sort());
  assert.deepEqual(some.failed, []);
  assert.deepEqual(progress, [[100, 250], [200, 250], [250, 250]]);
  assert.equal((await dlq.count()).broker, 247);
  assert.deepEqual((await bound.drain()).map((m) => m.properties.messageId).sort(), chosen.sort());

  const rest = await dlq.replay();
  assert.equal(rest.replayed.length, 247);
  assert.deepEqual(rest.failed, []);
  assert.equal((await dlq.count()).broker, 0);
  assert.equal((await bound.drain()).length, 247);
});

Deno.test("purge() deletes the selected dead letters, then all of them", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const ids = await seedUnroutable(consumer, 3);
  await using dlq = openDeadLetterQueue(consumer);
  assert.equal(await dlq.purge([ids[1], "no-such-id"]), 1);
  assert.deepEqual((await dlq.list()).letters.map((l) => l.id).sort(), [ids[0], ids[2]].sort());
  assert.equal(await dlq.purge(), 2);
  assert.deepEqual(await dlq.count(), { local: 0, broker: 0, total: 0 });
});

Deno.test("local dead letters are listed, replayed and purged like broker ones", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const [brokerId] = await seedUnroutable(consumer, 1);
  const store = new MemoryStore(LIMITS);
  const letters = [1, 2, 3].map((seq) => localDeadLetter(seq, consumer.exchange));
  await store.addDeadLetters(letters);
  try {
    await using dlq = openDeadLetterQueue(consumer, store);
    assert.deepEqual(await dlq.count(), { local: 3, broker: 1, total: 4 });
    const listed = (await dlq.list()).letters;
    assert.deepEqual(listed.map((l) => [l.id, l.location]), [
      [letters[0].id, "local"],
      [letters[1].id, "local"],
      [letters[2].id, "local"],
      [brokerId, "broker"],
    ]);
    assert.equal(listed[0].reason, "max-retries");
    assert.equal(listed[0].attempts, 5);
    assert.equal(listed[0].errorName, "TransportError");
    assert.equal(listed[0].originalExchange, consumer.exchange);

    await using bound = await BoundQueue.bind(consumer.exchange);
    const result = await dlq.replay([letters[0].id, brokerId]);
    assert.deepEqual(result.replayed.sort(), [letters[0].id, brokerId].sort());
    assert.deepEqual(
      (await bound.drain()).map((m) => m.properties.messageId).sort(),
      [letters[0].id, brokerId].sort(),
    );
    assert.deepEqual((await store.listDeadLetters()).map((l) => l.seq), [2, 3]);

    assert.equal(await dlq.purge([letters[1].id]), 1);
    assert.deepEqual((await store.listDeadLetters()).map((l) => l.seq), [3]);
    assert.equal(await dlq.purge(), 1);
    assert.deepEqual(await dlq.count(), { local: 0, broker: 0, total: 0 });
  } finally {
    await store.close();
  }
});

Deno.test("a dead-letter queue that does not exist yet counts and lists as empty", async () => {
  await using dlq = new DeadLetterQueue({
    urls: [BROKER_URL],
    queue: `missing.${crypto.randomUUID()}`,
  });
  assert.deepEqual(await dlq.count(), { local: 0, broker: 0, total: 0 });
  assert.deepEqual(await dlq.list(), { letters: [], brokerAvailable: true });
  assert.deepEqual(await dlq.replay(), { replayed: [], failed: [] });
  assert.equal(await dlq.purge(), 0);
});

Deno.test("DeadLetterQueue errors never show the broker password", async () => {
  await using dlq = new DeadLetterQueue({
    urls: ["amqp://ops:s3cret-pw@127.0.0.1:1"],
    queue: "app.dead-letter",
  });
  const { brokerError } = await dlq.count();
  assert.match(
    brokerError ?? "",
    /no RabbitMQ broker answered: amqp:\/\/ops:\*\*\*@127\.0\.0\.1:1/,
  );
  assert(!brokerError?.includes("s3cret-pw"));
  const error = await dlq.replay().then(() => undefined, (e: Error) => e);
  assert(error instanceof Error);
  assert.match(error.message, /no RabbitMQ broker answered: amqp:\/\/ops:\*\*\*@127\.0\.0\.1:1/);
  assert(!error.message.includes("s3cret-pw"));
  assert.throws(() => new DeadLetterQueue({ urls: [], queue: "q" }), RangeError);
  assert.throws(() => new DeadLetterQueue({ urls: [BROKER_URL], queue: "" }), RangeError);
});

Deno.test("replay() of a letter whose exchange is gone fails that letter alone; the others are replayed", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const store = new MemoryStore(LIMITS);
  const letters = [1, 2, 3, 4].map((seq) => localDeadLetter(seq, consumer.exchange));
  // The broker closes the channel over this one (404); the others share the channel.
  letters[1] = { ...letters[1], exchange: `${consumer.exchange}.gone` };
  await store.addDeadLetters(letters);
  try {
    await using dlq = openDeadLetterQueue(consumer, store);
    await using bound = await BoundQueue.bind(consumer.exchange);
    const result = await dlq.replay();
    assert.deepEqual(result.failed.map((f) => f.id), [letters[1].id]);
    assert.match(result.failed[0].error, /NOT_FOUND|404/);
    const others = [letters[0], letters[2], letters[3]].map((l) => l.id).sort();
    assert.deepEqual(result.replayed.sort(), others);
    const routed = (await bound.drain()).map((m) => m.properties.messageId ?? "");
    assert.deepEqual([...new Set(routed)].sort(), others);
    assert.deepEqual((await store.listDeadLetters()).map((l) => l.seq), [2]);
  } finally {
    await store.close();
  }
});
