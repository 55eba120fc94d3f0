// AmqpTransport against the real broker: each message of a send() gets the
// outcome RabbitMQ gave *it*, paired by delivery tag, never by message_id; a
// channel refused over one message is that message's outcome, and the
// connection stays up; a channel the broker only nacked is replaced.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import {
  AmqpTransport,
  type AmqpTransportOptions,
  classifyError,
  type OutboundMessage,
  type SendOutcome,
} from "../../mod.ts";
import { BROKER_URL, uniqueName } from "../_broker.ts";
import { recordingLogger } from "../_logger.ts";

function message(exchange: string, routingKey: string, id: string, body: string): OutboundMessage {
  return {
    exchange,
    routingKey,
    body,
    properties: {
      contentType: "application/json",
      deliveryMode: 2,
      messageId: id,
      type: "test.happened",
      timestamp: Date.now(),
      headers: {},
    },
  };
}

function kinds(outcomes: SendOutcome[]): string[] {
  return outcomes.map((o) => (o.ok ? "ok" : o.error.kind));
}

/**
 * A transport on a fresh exchange (with `options`), an admin connection for
 * the test's own queues, and the transport's state changes after it connected.
 */
async function withTransport(
  run: (t: {
    transport: AmqpTransport;
    exchange: string;
    admin: AMQPClient;
    changes: string[];
  }) => Promise<void>,
  options: Partial<AmqpTransportOptions> = {},
): Promise<void> {
  const exchange = uniqueName("outcomes");
  const transport = new AmqpTransport({ urls: [BROKER_URL], exchange, ...options });
  const admin = new AMQPClient(BROKER_URL);
  await admin.connect();
  try {
    assert.equal(await transport.start(), true);
    const changes: string[] = [];
    transport.onStateChange((c) => changes.push(c.to));
    await run({ transport, exchange, admin, changes });
  } finally {
    await transport.close();
    const channel = await admin.channel();
    await channel.exchangeDelete(exchange).catch(() => {});
    await admin.close();
  }
}

/** A queue of the test's own, bound to `exchange` with `bindingKey`, deleted with the admin connection. */
async function boundQueue(
  admin: AMQPClient,
  exchange: string,
  bindingKey: string,
  args: Record<string, unknown> = {},
): Promise<{ name: string; drain: () => Promise<string[]> }> {
  const channel = await admin.channel();
  const { name } = await channel.queueDeclare("", { exclusive: true, autoDelete: true }, args);
  await channel.queueBind(name, exchange, bindingKey);
  return {
    name,
    drain: async () => {
      const bodies: string[] = [];
      for (;;) {
        const got = await channel.basicGet(name, { noAck: true });
        if (got === null) return bodies;
        bodies.push(got.bodyToString() ?? "");
      }
    },
  };
}

Deno.test("AmqpTransport.send() returns every one of many unroutable messages with the same id", async () => {
  await withTransport(async ({ transport, exchange }) => {
    const messages = Array.from(
      { length: 200 },
      (_, n) => message(exchange, "nowhere", "same-id", JSON.stringify({ n })),
    );
    const outcomes = await transport.send(messages, 5_000);
    assert.deepEqual(kinds(outcomes), messages.map(() => "unroutable"));
  });
});

Deno.test("AmqpTransport.send() pairs each return with the publish it answers, whatever the ids", async () => {
  await withTransport(async ({ transport, exchange, admin }) => {
    const queue = await boundQueue(admin, exchange, "routed");
    // Pairs sharing an id, one routed and one returned, in both orders, many
    // times over: multiple acks then cover a routed and a returned one.
    const messages: OutboundMessage[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) {
      const id = `pair-${i}`;
      const routed = message(exchange, "routed", id, JSON.stringify({ i, routed: true }));
      const returned = message(exchange, "nowhere", id, JSON.stringify({ i, routed: false }));
      if (i % 2 === 0) {
        messages.push(routed, returned);
        expected.push("ok", "unroutable");
      } else {
        messages.push(returned, routed);
        expected.push("unroutable", "ok");
      }
    }
    const outcomes = await transport.send(messages, 10_000);
    assert.deepEqual(kinds(outcomes), expected);
    const bodies = (await queue.drain()).map((body) => JSON.parse(body));
    assert.equal(bodies.length, 100);
    assert(bodies.every((b) => b.routed === true));
  });
});

Deno.test("AmqpTransport.send() refuses for good, unsent, a message AMQP cannot carry; its neighbours are confirmed", async () => {
  await withTransport(async ({ transport, exchange, admin }) => {
    const queue = await boundQueue(admin, exchange, "routed");
    const tooLong = "k".repeat(300);
    const messages = [
      message(exchange, "routed", "before", JSON.stringify({ n: 1 })),
      message(exchange, tooLong, "long-key", JSON.stringify({ n: 2 })),
      message(exchange, "routed", "after", JSON.stringify({ n: 3 })),
    ];
    const outcomes = await transport.send(messages, 5_000);
    assert.deepEqual(kinds(outcomes), ["ok", "unencodable", "ok"]);
    const refused = outcomes[1];
    assert(!refused.ok);
    assert.equal(refused.error.sent, false);
    assert.match(refused.error.message, /routing key is longer than an AMQP short string/i);
    assert.deepEqual(classifyError(refused.error), { retriable: false, reason: "rejected" });
    const bodies = (await queue.drain()).map((body) => JSON.parse(body).n);
    assert.deepEqual(bodies, [1, 3]);
    assert.equal(transport.state, "connected");
  });
});

Deno.test("AmqpTransport.send() fails exactly the messages a full queue nacked (x-overflow: reject-publish)", async () => {
  await withTransport(async ({ transport, exchange, admin }) => {
    const queueName = uniqueName("outcomes.full");
    const channel = await admin.channel();
    // Durable, so its confirms wait for the disk while the nacks come at once.
    await channel.queueDeclare(queueName, { durable: true }, {
      "x-max-length": 5,
      "x-overflow": "reject-publish",
    });
    try {
      await channel.queueBind(queueName, exchange, "full");
      const messages = Array.from(
        { length: 10 },
        (_, i) => message(exchange, "full", `full-${i}`, JSON.stringify({ i })),
      );
      const outcomes = await transport.send(messages, 10_000);
      assert.deepEqual(kinds(outcomes), [...Array(5).fill("ok"), ...Array(5).fill("nack")]);
      const { messageCount } = await channel.queueDeclare(queueName, { passive: true });
      assert.equal(messageCount, 5);
    } finally {
      await channel.queueDelete(queueName);
    }
  });
});

Deno.test("AmqpTransport.send() to a missing exchange fails that message with 404; the connection stays up and the channel is reopened", async () => {
  await withTransport(async ({ transport, exchange, admin, changes }) => {
    const queue = await boundQueue(admin, exchange, "routed");
    const missing = uniqueName("outcomes.missing");
    const outcomes = await transport.send([
      message(exchange, "routed", "before", '{"n":1}'),
      message(missing, "routed", "refused", '{"n":2}'),
      message(exchange, "routed", "after", '{"n":3}'),
    ], 5_000);
    const [before, refused, after] = outcomes;
    assert(!refused.ok && refused.error.kind === "closed-by-broker", kinds(outcomes).join());
    assert.equal(refused.error.code, 404);
    // Sent before the refusal: confirmed, or its confirm lost with the channel.
    assert(before.ok || before.error.kind === "channel-closed", kinds(outcomes).join());
    // Sent after it: the broker dropped it unread; it was never refused.
    assert(!after.ok && after.error.kind === "channel-closed", kinds(outcomes).join());
    assert.equal(after.error.sent, false);
    assert.deepEqual(changes, [], "the connection never went down");
    assert.equal(transport.state, "connected");
    // The next send goes out on the reopened channel.
    assert.deepEqual(
      kinds(await transport.send([message(exchange, "routed", "next", "{}")], 5_000)),
      [
        "ok",
      ],
    );
    const bodies = await queue.drain();
    assert(bodies.includes("{}"));
    assert(!bodies.includes('{"n":3}'), "what followed the refusal was never routed");
  });
});

Deno.test("AmqpTransport.send() after a channel the broker only nacked goes out on a new channel of the same connection", async () => {
  const logger = recordingLogger();
  const renewals = () => logger.at("warn").filter((line) => line.includes("nacked")).length;
  // At most 3 channels: one replaced channel left open would drop the
  // connection within the rounds below.
  const url = `${BROKER_URL}?channelMax=3`;
  await withTransport(async ({ transport, exchange, admin, changes }) => {
    const refusing = await boundQueue(admin, exchange, "refused", {
      "x-max-length": 0,
      "x-overflow": "reject-publish",
    });
    for (let round = 0; round < 6; round++) {
      const outcomes = await transport.send(
        [message(exchange, "refused", `r${round}`, "{}")],
        5_000,
      );
      assert.deepEqual(kinds(outcomes), ["nack"]);
      // The first send finds a fresh channel; each later one replaces the refused one.
      assert.equal(renewals(), round);
    }
    assert.deepEqual(changes, [], "the connection never went down");
    const channel = await admin.channel();
    await channel.queueDelete(refusing.name);
    const queue = await boundQueue(admin, exchange, "refused");
    for (const id of ["ok-1", "ok-2"]) {
      assert.deepEqual(
        kinds(await transport.send([message(exchange, "refused", id, "{}")], 5_000)),
        [
          "ok",
        ],
      );
    }
    // Replaced once more before "ok-1"; a channel with a confirm is kept.
    assert.equal(renewals(), 6);
    assert.equal((await queue.drain()).length, 2);
    assert.deepEqual(changes, []);
  }, { urls: [url], logger });
});

Deno.test("AmqpTransport.send() keeps a channel the broker has confirmed on, whatever it nacks later", async () => {
  const logger = recordingLogger();
  await withTransport(async ({ transport, exchange, admin }) => {
    await boundQueue(admin, exchange, "full", {
      "x-max-length": 1,
      "x-overflow": "reject-publish",
    });
    const first = await transport.send([
      message(exchange, "full", "fits", "{}"),
      message(exchange, "full", "over", "{}"),
    ], 5_000);
    assert.deepEqual(kinds(first), ["ok", "nack"]);
    const next = await transport.send([message(exchange, "full", "over-again", "{}")], 5_000);
    assert.deepEqual(kinds(next), ["nack"]);
    assert.deepEqual(logger.at("warn"), [], "no channel was replaced");
  }, { logger });
});
