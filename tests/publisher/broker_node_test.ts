// Against a RabbitMQ node started for this test (never the shared broker on
// 5672), with `max_message_size = 1048576`: an event over that size is its
// own refusal (`too-large`) and its neighbours are confirmed with no extra
// attempt; a memory alarm blocks the connection, the events already written
// are confirmed after it with none sent twice, and close() while blocked
// keeps to its deadline. The node is stopped in `finally`.

import assert from "node:assert/strict";
import { Cluster, rabbitmqctl } from "../_cluster.ts";
import { TestConsumer, testEvent } from "../_broker.ts";
import { silent } from "../_dead_letters.ts";
import { sleep, until } from "../_wait.ts";
import {
  AmqpTransport,
  type CircuitStateChange,
  createRabbitMQAsyncEventPublisher,
  type DomainEvent,
  type RabbitMQAsyncEventPublisher,
} from "../../mod.ts";

const MAX_MESSAGE_SIZE = 1_048_576;
// Starting a node needs the rabbitmq user and its server (see RABBITMQ_NODES.md).
const canStartNodes = Deno.uid() === 0 &&
  (() => {
    try {
      return Deno.statSync("/usr/lib/rabbitmq/bin/rabbitmq-server").isFile;
    } catch {
      return false;
    }
  })();

/** A publisher on `url` through a transport whose state changes are recorded. */
async function publisherOn(
  url: string,
  exchange: string,
  config: Parameters<typeof createRabbitMQAsyncEventPublisher>[1],
): Promise<{
  publisher: RabbitMQAsyncEventPublisher;
  connection: string[];
  circuit: CircuitStateChange[];
}> {
  const transport = new AmqpTransport({
    urls: [url],
    exchange,
    deadLetter: { exchange: `${exchange}.dead-letter`, queue: `${exchange}.dead-letter` },
    logger: silent,
  });
  const connection: string[] = [];
  transport.onStateChange((c) => connection.push(c.to));
  const circuit: CircuitStateChange[] = [];
  const publisher = await createRabbitMQAsyncEventPublisher(
    { url, exchange },
    config,
    { transport, logger: silent, onStateChange: (c) => circuit.push(c) },
  );
  return { publisher, connection, circuit };
}

Deno.test({
  name:
    "on a broker node of the test's own: a too-large event is refused alone, and a memory alarm blocks without duplicates",
  ignore: !canStartNodes,
  async fn(t) {
    await using cluster = await Cluster.start({
      size: 1,
      prefix: "outcomes",
      basePort: 5721,
      config: [`max_message_size = ${MAX_MESSAGE_SIZE}`],
    }, () => {});
    const [node] = cluster.nodes;

    await t.step(
      "an event over max_message_size is dead-lettered too-large; its 9 neighbours are confirmed with no extra attempt",
      async () => {
        await using consumer = await TestConsumer.start({ url: node.url });
        const { publisher, connection, circuit } = await publisherOn(node.url, consumer.exchange, {
          flushInterval: 20,
          batchSize: 10,
          maxMessageBytes: 4 * MAX_MESSAGE_SIZE,
        });
        try {
          const events: DomainEvent[] = Array.from({ length: 10 }, (_, i) => testEvent(i));
          const big = events[4] = {
            ...events[4],
            data: { blob: "x".repeat(2 * MAX_MESSAGE_SIZE) },
          };
          await publisher.publishBatch(events);
          await until(
            () => publisher.getStats().bufferStats.size === 0,
            () => JSON.stringify(publisher.getStats()),
          );
          const neighbours = events.filter((e) => e !== big).map((e) => e.id);
          await consumer.waitFor(9);
          await publisher.flush(1_000);
          const received = consumer.messages.map((m) => m.properties.messageId ?? "");
          assert.deepEqual([...new Set(received)].sort(), neighbours.sort());
          // Those written after the refused one were dropped unread by the broker and
          // sent again: once each. Those before it may arrive twice (their confirm was
          // lost with the channel; at least once, consumers de-duplicate by message_id).
          for (const e of events.slice(5)) {
            assert.equal(received.filter((id) => id === e.id).length, 1, e.id);
          }
          const { letters } = await publisher.deadLetters.list();
          assert.deepEqual(letters.map((l) => [l.id, l.reason, l.attempts]), [[
            big.id,
            "too-large",
            1,
          ]]);
          const stats = publisher.getStats();
          assert.equal(stats.publishedEvents, 9);
          assert.equal(stats.deadLetteredEvents, 1);
          assert.equal(stats.failedEvents, 1, "only the refused event spent an attempt");
          // delivered 9 + dead-lettered 1 + pending 0 = 10 accepted.
          assert.equal(
            stats.publishedEvents + stats.deadLetteredEvents + stats.bufferStats.size,
            10,
          );
          // Connected once, at start, and never went down.
          assert.deepEqual(connection, ["connecting", "connected"]);
          assert.deepEqual(circuit, [], "the circuit never opened");
        } finally {
          await publisher.close({ timeoutMs: 1_000 });
        }
      },
    );

    await t.step(
      "under a memory alarm the events already written are confirmed after it, none sent twice; close() while blocked keeps to its deadline",
      async () => {
        await using consumer = await TestConsumer.start({ url: node.url });
        const publishTimeout = 1_000;
        const { publisher } = await publisherOn(node.url, consumer.exchange, {
          flushInterval: 10,
          batchSize: 20,
          publishTimeout,
        });
        const sent: string[] = [];
        let streaming = true;
        // A steady stream, so that some events are on the wire when the alarm blocks us.
        const stream = (async () => {
          for (let i = 0; streaming; i++) {
            const batch = Array.from({ length: 10 }, (_, k) => testEvent(i * 10 + k));
            await publisher.publishBatch(batch);
            sent.push(...batch.map((e) => e.id));
            await sleep(10);
          }
        })();
        let alarmOn = false;
        try {
          await until(() => publisher.getStats().publishedEvents >= 100, "a first 100 confirms");
          await rabbitmqctl(node.name, "set_vm_memory_high_watermark", "0.00001");
          alarmOn = true;
          await until(
            () => publisher.getStats().connectionState === "blocked",
            () => JSON.stringify(publisher.getStats()),
          );
          const inFlightWhenBlocked = publisher.getStats().inFlightEvents;
          console.log(`blocked with ${inFlightWhenBlocked} events in flight`);
          // Several publish timeouts pass while blocked.
          await sleep(3 * publishTimeout);
          streaming = false;
          await stream;
          const blocked = publisher.getStats();
          assert.equal(blocked.connectionState, "blocked");
          assert.match(blocked.blockedReason ?? "", /memory/i);
          assert.match(publisher.getHealth().checks.connection.reason ?? "", /blocked.*memory/i);
          assert.equal(blocked.unknownOutcomeFailures, 0, "no publish timed out while blocked");

          // A second publisher, blocked as soon as it writes, closes within its deadline.
          const late = await publisherOn(node.url, `${consumer.exchange}.late`, {
            flushInterval: 10,
            publishTimeout,
          });
          await late.publisher.publishBatch([testEvent(9_999)]);
          await until(
            () => late.publisher.getStats().connectionState === "blocked",
            () => JSON.stringify(late.publisher.getStats()),
          );
          const timeoutMs = 500;
          const started = performance.now();
          const report = await late.publisher.close({ timeoutMs });
          const took = performance.now() - started;
          assert(
            took < timeoutMs + 400,
            `close({ timeoutMs: ${timeoutMs} }) took ${Math.round(took)} ms`,
          );
          assert.equal(report.timedOut, true);

          await rabbitmqctl(node.name, "set_vm_memory_high_watermark", "0.4");
          alarmOn = false;
          await until(
            () => publisher.getStats().bufferStats.size === 0,
            () => JSON.stringify(publisher.getStats()),
            30_000,
          );
          await consumer.waitFor(sent.length);
          await publisher.flush(1_000);
          const ids = consumer.messages.map((m) => m.properties.messageId ?? "");
          const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
          assert.deepEqual(twice, [], `sent twice (${inFlightWhenBlocked} in flight when blocked)`);
          assert.deepEqual([...ids].sort(), [...sent].sort());
          const stats = publisher.getStats();
          assert.equal(stats.publishedEvents, sent.length);
          assert.equal(stats.unknownOutcomeFailures, 0);
          assert.equal(stats.connectionState, "connected");
        } finally {
          streaming = false;
          await stream.catch(() => {});
          if (alarmOn) await rabbitmqctl(node.name, "set_vm_memory_high_watermark", "0.4");
          await publisher.close({ timeoutMs: 1_000 });
        }
      },
    );
  },
});
