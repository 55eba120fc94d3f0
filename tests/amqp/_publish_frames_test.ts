// The frames we write for basic.publish: byte for byte what the client's own
// basicPublish() writes for what both encode alike, and, against the real
// broker, what a consumer reads back for every kind of property, header
// value and body (non-ASCII, empty, larger than a frame).

import assert from "node:assert/strict";
import {
  AMQPChannel,
  AMQPClient,
  type AMQPMessage,
  type AMQPProperties,
} from "@cloudamqp/amqp-client";
import { ConfirmChannel, type ConfirmMessage } from "../../src/amqp/_confirm_channel.ts";
import {
  FrameEncodeError,
  PublishFrames,
  type PublishProperties,
} from "../../src/amqp/_publish_frames.ts";
import { BROKER_URL, uniqueName } from "../_broker.ts";
import { until } from "../_wait.ts";

/** The bytes the client's basicPublish() writes, from a connection that only records them. */
async function clientFrames(
  frameMax: number,
  exchange: string,
  routingKey: string,
  properties: AMQPProperties,
  body: string,
): Promise<Uint8Array> {
  const written: Uint8Array[] = [];
  const connection = {
    closed: false,
    blocked: undefined,
    frameMax,
    textEncoder: new TextEncoder(),
    bufferPool: [],
    send(bytes: Uint8Array) {
      written.push(bytes.slice());
      return Promise.resolve();
    },
  };
  // deno-lint-ignore no-explicit-any
  const channel = new AMQPChannel(connection as any, 3);
  await channel.basicPublish(exchange, routingKey, body, properties, true);
  assert.equal(written.length, 1);
  return written[0];
}

function ourFrames(
  frameMax: number,
  exchange: string,
  routingKey: string,
  properties: PublishProperties,
  body: string,
): Uint8Array {
  const frames = new PublishFrames(64);
  frames.append(3, frameMax, exchange, routingKey, true, properties, body);
  return frames.bytes.slice();
}

const EVENT_PROPERTIES = {
  contentType: "application/json",
  deliveryMode: 2,
  priority: 5,
  correlationId: "corr-1",
  messageId: "evt-1",
  type: "user.created",
  headers: { "event-version": "1.0", "event-priority": "normal", "x-attempt": 3, neg: -7 },
};

Deno.test("our basic.publish frames are the client's, byte for byte, for an event", async () => {
  const timestamp = 1_700_000_000_123;
  for (const body of ["", '{"id":"evt-1"}', "x".repeat(20_000)]) {
    const ours = ourFrames(8192, "events", "user.created", {
      ...EVENT_PROPERTIES,
      timestamp,
    }, body);
    const theirs = await clientFrames(8192, "events", "user.created", {
      ...EVENT_PROPERTIES,
      timestamp: new Date(timestamp),
    }, body);
    assert.deepEqual(ours, theirs, `a body of ${body.length} bytes`);
  }
});

Deno.test("the frames of several publishes follow one another in one buffer", () => {
  const frames = new PublishFrames(16);
  const one = ourFrames(8192, "ex", "a", { messageId: "1" }, "first");
  const two = ourFrames(8192, "ex", "b", { messageId: "2" }, "second ✓");
  frames.append(3, 8192, "ex", "a", true, { messageId: "1" }, "first");
  frames.append(3, 8192, "ex", "b", true, { messageId: "2" }, "second ✓");
  assert.deepEqual(frames.bytes, new Uint8Array([...one, ...two]));
});

Deno.test("a short string over 255 bytes fails that publish alone and leaves nothing of it", () => {
  const frames = new PublishFrames(16);
  frames.append(1, 8192, "ex", "ok", true, {}, "kept");
  const before = frames.bytes.slice();
  for (const messageId of ["a".repeat(256), "é".repeat(128)]) {
    assert.throws(
      () => frames.append(1, 8192, "ex", "ok", true, { messageId }, "dropped"),
      (error: unknown) =>
        error instanceof FrameEncodeError && /messageId is longer than/.test(error.message),
    );
    assert.deepEqual(frames.bytes, before);
  }
  assert.throws(
    () => frames.append(1, 8192, "ex", "k".repeat(300), true, {}, "dropped"),
    /routing key is longer than/,
  );
  // 255 bytes exactly is a short string still.
  frames.append(1, 8192, "ex", "é".repeat(127) + "a", true, {}, "");
});

/**
 * Runs `fn` with a confirm channel and the messages a consumer received
 * from a fresh exchange (every routing key), on one connection, closed after.
 */
async function withConsumer(
  fn: (exchange: string, confirm: ConfirmChannel, received: AMQPMessage[]) => Promise<void>,
): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const admin = await client.channel();
    const exchange = uniqueName("frames");
    await admin.exchangeDeclare(exchange, "topic", { autoDelete: true });
    const queue = await admin.queueDeclare("", { exclusive: true });
    await admin.queueBind(queue.name, exchange, "#");
    const received: AMQPMessage[] = [];
    await admin.basicConsume(queue.name, { noAck: true }, (message) => {
      received.push(message);
    });
    const confirm = await ConfirmChannel.open(client);
    await fn(exchange, confirm, received);
    await confirm.close();
  } finally {
    await client.close();
  }
}

Deno.test("a consumer reads back every property, header value and body as it was published", async () => {
  await withConsumer(async (exchange, confirm, received) => {
    const headers = {
      text: "plain",
      unicode: "naïve — ünïcødé ✓",
      int: 42,
      negative: -(2 ** 31),
      big: 2 ** 40,
      float: 0.1,
      yes: true,
      no: false,
      nothing: null,
      when: new Date(1_700_000_000_000),
      list: [1, "two", [3]],
      nested: { inner: "x", deeper: { n: 1 } },
      bytes: new Uint8Array([0, 255, 7]),
      long: 123n,
    };
    const base: PublishProperties = {
      contentType: "application/json",
      contentEncoding: "utf-8",
      headers,
      deliveryMode: 2,
      priority: 9,
      correlationId: "corr-é",
      replyTo: "reply.queue",
      expiration: "60000",
      messageId: "mid-ü",
      timestamp: 1_700_000_000_999,
      type: "thing.happened",
      appId: "frames-test",
    };
    const bodies = ["", "ascii body", "ünïcødé ✓ body", "é".repeat(100_000), "z".repeat(8185)];
    const messages: ConfirmMessage[] = bodies.map((body, i) => ({
      exchange,
      routingKey: `key.${i}.ü`,
      body,
      properties: { ...base, messageId: `${base.messageId}-${i}` },
    }));
    const outcomes = await confirm.publish(messages, 5_000);
    assert.deepEqual(outcomes.map((o) => o.ok), bodies.map(() => true));
    await until(() => received.length === bodies.length, "every message back", 5_000);
    for (const [i, message] of received.entries()) {
      assert.equal(message.routingKey, `key.${i}.ü`);
      assert.equal(message.bodyToString() ?? "", bodies[i]);
      const p = message.properties;
      assert.equal(p.messageId, `mid-ü-${i}`);
      assert.equal(p.contentType, base.contentType);
      assert.equal(p.contentEncoding, base.contentEncoding);
      assert.equal(p.deliveryMode, 2);
      assert.equal(p.priority, 9);
      assert.equal(p.correlationId, base.correlationId);
      assert.equal(p.replyTo, base.replyTo);
      assert.equal(p.expiration, base.expiration);
      assert.equal(p.type, base.type);
      assert.equal(p.appId, base.appId);
      assert.equal(p.timestamp?.getTime(), 1_700_000_000_000);
      assert.deepEqual(p.headers, { ...headers, bytes: headers.bytes, long: 123 });
    }
  });
});

Deno.test("sends one after another and at once on a channel, each into a reused or its own buffer, arrive intact", async () => {
  await withConsumer(async (exchange, confirm, received) => {
    const batch = (name: string, n: number, size: number): ConfirmMessage[] =>
      Array.from({ length: n }, (_, i) => ({
        exchange,
        routingKey: name,
        body: `${name}-${i}:`.padEnd(size, name[0]),
        properties: { messageId: `${name}-${i}` },
      }));
    // A large send, then smaller ones into its buffer, then two at once (one must make its own).
    const sends = [batch("large", 20, 30_000), batch("small", 50, 300), batch("next", 50, 300)];
    const expected: string[] = [];
    for (const messages of sends) {
      const outcomes = await confirm.publish(messages, 5_000);
      assert(outcomes.every((o) => o.ok));
      expected.push(...messages.map((m) => m.body));
    }
    const together = [batch("alpha", 40, 2_000), batch("beta", 40, 2_000)];
    const outcomes = await Promise.all(
      together.map((messages) => confirm.publish(messages, 5_000)),
    );
    assert(outcomes.flat().every((o) => o.ok));
    expected.push(...together.flat().map((m) => m.body));
    await until(() => received.length === expected.length, "every message back", 5_000);
    assert.deepEqual(received.map((m) => m.bodyToString() ?? ""), expected);
  });
});
