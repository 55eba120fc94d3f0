import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, TestConsumer, testEvent } from "./_broker.ts";
import { envFor, openStore, run, withStorePath } from "./_cli.ts";
import { BoundQueue, localDeadLetter, seedUnroutable } from "./_dead_letters.ts";
import { TcpProxy } from "./_proxy.ts";
import { byteSize } from "../src/cli/_format.ts";
import { deadLetterHeaders } from "../src/dead_letters/queue.ts";
import { encodeEvent, type EventPriority } from "../src/event.ts";
import type { DeadLetterRecord, NewRecord } from "../src/store/store.ts";

const HOUR = 3_600_000;

function pending(n: number, priority: EventPriority, acceptedAt: number, exchange: string) {
  const record: NewRecord = { ...encodeEvent(testEvent(n, priority)), exchange, acceptedAt };
  return record;
}

function persistent(consumer: TestConsumer, path: string, extra: Record<string, string> = {}) {
  return envFor(consumer, {
    RABBITMQ_BUFFER_PERSISTENCE: "true",
    RABBITMQ_BUFFER_STORAGE_PATH: path,
    ...extra,
  });
}

const ids = (stdout: string) => JSON.parse(stdout).map((l: { id: string }) => l.id).sort();

Deno.test("dlq reads the local dead letters of a store a running publisher holds, and leaves them to it", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await withStorePath(async (path) => {
    const env = persistent(consumer, path);
    const letters = [
      localDeadLetter(1, consumer.exchange),
      localDeadLetter(2, consumer.exchange, { reason: "expired" }),
    ];
    const store = await openStore(path);
    try {
      await store.addDeadLetters(letters);

      const count = await run(["count", "--json"], env);
      assert.equal(count.code, 0, count.stderr);
      assert.equal(count.stderr, "");
      assert.deepEqual(JSON.parse(count.stdout), { local: 2, broker: 0, total: 2 });
      const list = await run(["list", "--json"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(ids(list.stdout), letters.map((l) => l.id).sort());
      assert.match((await run(["show", letters[1].id], env)).stdout, /^location: +local store$/m);

      const purge = await run(["purge", letters[0].id], env);
      assert.equal(purge.code, 1);
      assert.equal(purge.stdout, "");
      assert.match(
        purge.stderr,
        new RegExp(
          `held by a running publisher \\(pid ${Deno.pid} on .*\\): 1 matching local dead ` +
            `letter was left alone \\(${letters[0].id}\\)`,
        ),
      );
      const replay = await run(["replay", "--all", "--json"], env);
      assert.equal(replay.code, 0, replay.stderr);
      assert.deepEqual(JSON.parse(replay.stdout), {
        replayed: [],
        failed: [],
        held: letters.map((l) => l.id),
      });
      // The owner still holds its lease and both letters.
      assert.equal((await store.listDeadLetters()).length, 2);
      await store.addDeadLetters([localDeadLetter(3, consumer.exchange)]);
    } finally {
      await store.close();
    }

    const purged = await run(["purge", letters[0].id], env);
    assert.equal(purged.code, 0, purged.stderr);
    assert.equal(purged.stdout, "purged 1 dead letter\n");
    assert.deepEqual(JSON.parse((await run(["count", "--json"], env)).stdout).local, 2);
  });
});

Deno.test("dlq status shows pending events by priority, bytes, the oldest, and both dead-letter counts", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await seedUnroutable(consumer, 1);
  await withStorePath(async (path) => {
    const env = persistent(consumer, path);
    const now = Date.now();
    const events = [
      pending(1, "high", now - 1_000, consumer.exchange),
      pending(2, "normal", now - 90_000, consumer.exchange),
      pending(3, "normal", now - 2_000, consumer.exchange),
      pending(4, "low", now - 3_000, consumer.exchange),
    ];
    const store = await openStore(path);
    try {
      await store.add(events);
      await store.addDeadLetters([
        localDeadLetter(10, consumer.exchange),
        localDeadLetter(11, consumer.exchange),
      ]);

      const json = await run(["status", "--json"], env);
      assert.equal(json.code, 0, json.stderr);
      const status = JSON.parse(json.stdout);
      const bytes = events.reduce((sum, event) => sum + event.bytes, 0);
      assert.equal(status.store.state, "read");
      assert.equal(status.store.path, path);
      assert.equal(status.store.holder.live, true);
      assert.equal(status.store.holder.pid, Deno.pid);
      assert.deepEqual(status.store.pending.byPriority, { high: 1, normal: 2, low: 1 });
      assert.equal(status.store.pending.total, 4);
      assert.equal(status.store.pending.bytes, bytes);
      assert.equal(status.store.pending.oldest.id, events[1].id);
      assert(status.store.pending.oldest.ageMs >= 90_000);
      assert.deepEqual(status.deadLetters, { local: 2, broker: 1, total: 3 });
      assert.equal(status.broker.reachable, true);
      assert.equal(status.broker.queue, consumer.deadLetterQueue);

      const text = await run(["status"], env);
      assert.equal(text.code, 0, text.stderr);
      const row = (name: string) => text.stdout.match(new RegExp(`^${name}: +(.*)$`, "m"))?.[1];
      assert.match(
        row("store")!,
        new RegExp(`^${path} \\(held by "pid ${Deno.pid} on .*", lease valid for \\d+s\\)$`),
      );
      assert.equal(row("pending"), `4 events, ${byteSize(bytes)} (high 1, normal 2, low 1)`);
      assert.match(
        row("oldest pending")!,
        new RegExp(`^1m \\d+s old: "${events[1].id}", accepted `),
      );
      assert.equal(
        row("dead letters"),
        `2 local, 1 on the broker (queue ${consumer.deadLetterQueue}), 3 in all`,
      );
      assert.equal(row("broker"), "amqp://guest:***@127.0.0.1:5672 answered");
    } finally {
      await store.close();
    }
    // Closing the store gave up the lease.
    assert.equal(JSON.parse((await run(["status", "--json"], env)).stdout).store.holder, null);
    assert.match(
      (await run(["status"], env)).stdout,
      new RegExp(`^store: +${path} \\(no publisher holds its lease\\)$`, "m"),
    );
  });
});

Deno.test("dlq shows the local side and reports the broker unavailable while it is down", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await using proxy = await TcpProxy.start();
  await withStorePath(async (path) => {
    const env = persistent(consumer, path, { RABBITMQ_URL: proxy.url });
    const letters = [
      localDeadLetter(1, consumer.exchange, { reason: "expired" }),
      localDeadLetter(2, consumer.exchange, { reason: "expired" }),
    ];
    const store = await openStore(path);
    try {
      await store.addDeadLetters(letters);
      await store.add([pending(3, "low", Date.now(), consumer.exchange)]);
    } finally {
      await store.close();
    }
    proxy.refuse();

    const list = await run(["list", "--json"], env);
    assert.equal(list.code, 1);
    assert.deepEqual(ids(list.stdout), letters.map((l) => l.id).sort());
    assert.match(
      list.stderr,
      new RegExp(
        `^dlq: the broker queue ${consumer.deadLetterQueue} could not be read: no RabbitMQ ` +
          `broker answered: amqp://guest:\\*\\*\\*@127\\.0\\.0\\.1:${proxy.port}`,
      ),
    );
    const table = await run(["list", "--reason", "expired"], env);
    assert.equal(table.code, 1);
    assert.equal(table.stdout.trimEnd().split("\n").length, 3);

    const count = await run(["count", "--json"], env);
    assert.equal(count.code, 1);
    assert.deepEqual(JSON.parse(count.stdout), { local: 2, broker: null, total: null });
    assert.equal(
      (await run(["count"], env)).stdout,
      "local:  2\nbroker: unavailable\ntotal:  unknown\n",
    );

    const status = await run(["status", "--json"], env);
    assert.equal(status.code, 1);
    const report = JSON.parse(status.stdout);
    assert.equal(report.store.pending.byPriority.low, 1);
    assert.deepEqual(report.deadLetters, { local: 2, broker: null, total: null });
    assert.equal(report.broker.reachable, false);
    assert.match(report.broker.error, /no RabbitMQ broker answered/);

    const show = await run(["show", letters[0].id], env);
    assert.equal(show.code, 1); // found, but the broker part is unknown
    assert.match(show.stdout, new RegExp(`^id: +${letters[0].id}$`, "m"));

    const replay = await run(["replay", "--all"], env);
    assert.equal(replay.code, 1);
    assert.match(replay.stderr, /^dlq: no RabbitMQ broker answered/);
    proxy.restore();
    assert.deepEqual(JSON.parse((await run(["count", "--json"], env)).stdout), {
      local: 2,
      broker: 0,
      total: 2,
    });
  });
});

Deno.test("dlq filters list, replay and purge by reason, type and age", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  const unroutable = await seedUnroutable(consumer, 2);
  await withStorePath(async (path) => {
    const env = persistent(consumer, path);
    const now = Date.now();
    const old = localDeadLetter(1, consumer.exchange, {
      type: "order.created",
      deadLetteredAt: now - 3 * HOUR,
    });
    const recent = localDeadLetter(2, consumer.exchange, {
      type: "order.shipped",
      reason: "expired",
      deadLetteredAt: now - 10 * 60_000,
    });
    const evicted = localDeadLetter(3, consumer.exchange, {
      type: "user.created",
      reason: "evicted",
    });
    const store = await openStore(path);
    try {
      await store.addDeadLetters([old, recent, evicted]);
    } finally {
      await store.close();
    }
    const listed = async (...args: string[]) => {
      const result = await run(["list", "--json", ...args], env);
      assert.equal(result.code, 0, result.stderr);
      return ids(result.stdout);
    };
    assert.deepEqual(await listed("--reason", "unroutable"), unroutable.sort());
    assert.deepEqual(await listed("--type", "order.*"), [old.id, recent.id].sort());
    assert.deepEqual(await listed("--older-than", "1h"), [old.id]);
    assert.deepEqual(await listed("--reason", "expired,evicted", "--older-than", "5m"), [
      recent.id,
    ]);
    assert.deepEqual(await listed("--reason", "evicted", "--limit", "1"), [evicted.id]);

    await using bound = await BoundQueue.bind(consumer.exchange);
    const replay = await run(["replay", "--type", "order.*", "--json"], env);
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(JSON.parse(replay.stdout).replayed.sort(), [old.id, recent.id].sort());
    assert.deepEqual(
      (await bound.drain()).map((m) => m.properties.messageId).sort(),
      [
        old.id,
        recent.id,
      ].sort(),
    );
    assert.deepEqual(JSON.parse((await run(["count", "--json"], env)).stdout), {
      local: 1,
      broker: 2,
      total: 3,
    });

    const purge = await run(["purge", "--reason", "unroutable", "--yes"], env);
    assert.equal(purge.code, 0, purge.stderr);
    assert.equal(purge.stdout, "purged 2 dead letters\n");
    const none = await run(["purge", "--older-than", "1d", "--yes", "--json"], env);
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(JSON.parse(none.stdout), { purged: 0, notFound: [], held: [] });
    const filtered = await run(["purge", evicted.id, "--reason", "expired"], env);
    assert.equal(filtered.code, 1);
    assert.equal(filtered.stderr, `dlq: dead letter "${evicted.id}" does not match the filters\n`);
    assert.deepEqual(await listed(), [evicted.id]);
  });
});

Deno.test("dlq lists a letter once while it is both in the store and on the broker", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await withStorePath(async (path) => {
    const env = persistent(consumer, path);
    const moving = localDeadLetter(1, consumer.exchange, { deadLetteredAt: Date.now() - 5_000 });
    const stays = localDeadLetter(2, consumer.exchange);
    const store = await openStore(path);
    try {
      await store.addDeadLetters([moving, stays]);
    } finally {
      await store.close();
    }
    // The state between the broker's confirm of a moved letter and its local delete.
    await publishToDeadLetterQueue(consumer, moving);

    const list = await run(["list", "--json"], env);
    assert.equal(list.code, 0, list.stderr);
    const letters = JSON.parse(list.stdout);
    assert.deepEqual(letters.map((l: { id: string; location: string }) => [l.id, l.location]), [
      [stays.id, "local"],
      [moving.id, "broker"],
    ]);
    assert.equal(JSON.parse((await run(["show", moving.id, "--json"], env)).stdout).length, 1);
  });
});

Deno.test("dlq status and list say what they found when the store is off, missing or unreadable", async () => {
  await using consumer = await TestConsumer.start({ bindingKey: null });
  await withStorePath(async (path) => {
    const off = await run(["status"], envFor(consumer));
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /^store: +none: persistence is off/m);

    const missing = await run(["status", "--json", "--store", path], envFor(consumer));
    assert.equal(missing.code, 0, missing.stderr);
    assert.deepEqual(JSON.parse(missing.stdout).store, { state: "missing", path });
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound); // nothing was created

    await Deno.writeTextFile(path, "not a database ".repeat(100));
    const broken = await run(["list", "--store", path], envFor(consumer));
    assert.equal(broken.code, 1);
    assert.equal(broken.stdout, "no dead letters\n");
    assert.equal(
      broken.stderr,
      `dlq: the event store at ${path} is not a Deno KV database, or is damaged ` +
        `(file is not a database)\n`,
    );
    const replay = await run(["replay", "--all", "--store", path], envFor(consumer));
    assert.equal(replay.code, 1);
    assert.equal(
      replay.stderr,
      `dlq: the event store at ${path} is not a Deno KV database, or is damaged ` +
        `(file is not a database)\n`,
    );
  });
});

/** Puts `letter` into the consumer's dead-letter queue as the publisher moves it there. */
async function publishToDeadLetterQueue(consumer: TestConsumer, letter: DeadLetterRecord) {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.queueDeclare(consumer.deadLetterQueue, { durable: true });
    await channel.confirmSelect();
    const { timestamp, headers, ...properties } = letter.properties;
    await channel.basicPublish("", consumer.deadLetterQueue, letter.body, {
      ...properties,
      timestamp: new Date(timestamp),
      headers: { ...headers, ...deadLetterHeaders(letter) },
    });
    await channel.close();
  } finally {
    await client.close();
  }
}
