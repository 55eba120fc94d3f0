// Publish timeouts of the confirm channel against the real broker, its
// answers held up by a stalled TCP proxy: each call runs out on its own
// deadline (one timer serves them all), and time spent paused (a blocked
// connection) does not count.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { ConfirmChannel, type ConfirmMessage } from "../../src/amqp/_confirm_channel.ts";
import type { SendOutcome } from "../../src/amqp/transport.ts";
import { TcpProxy } from "../_proxy.ts";

function message(n: number): ConfirmMessage {
  return {
    exchange: "",
    routingKey: `nobody-${crypto.randomUUID()}`,
    body: JSON.stringify({ n }),
    properties: { contentType: "application/json", deliveryMode: 2, messageId: `m-${n}` },
  };
}

const kinds = (outcomes: SendOutcome[]) => outcomes.map((o) => (o.ok ? "ok" : o.error.kind));

async function stalledChannel(
  proxy: TcpProxy,
): Promise<{ client: AMQPClient; channel: ConfirmChannel }> {
  const client = new AMQPClient(proxy.url);
  await client.connect();
  const channel = await ConfirmChannel.open(client);
  proxy.stall();
  return { client, channel };
}

Deno.test("each publish() call times out on its own deadline while the broker's answers are held up", async () => {
  await using proxy = await TcpProxy.start();
  const { client, channel } = await stalledChannel(proxy);
  try {
    const started = performance.now();
    const settledAt: Record<string, number> = {};
    const first = channel.publish([message(1), message(2)], 300).then((o) => {
      settledAt.first = performance.now() - started;
      return o;
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    const second = channel.publish([message(3)], 300).then((o) => {
      settledAt.second = performance.now() - started;
      return o;
    });
    assert.deepEqual(kinds(await first), ["timeout", "timeout"]);
    assert.deepEqual(kinds(await second), ["timeout"]);
    assert.ok(settledAt.first >= 290, `the first call ran out at ${settledAt.first} ms`);
    assert.ok(settledAt.second >= 440, `the second call ran out at ${settledAt.second} ms`);
    assert.ok(settledAt.first < settledAt.second, "in the order of their deadlines");
  } finally {
    proxy.restore();
    await client.close().catch(() => {});
  }
});

Deno.test("time spent paused does not count against a publish() call's deadline", async () => {
  await using proxy = await TcpProxy.start();
  const { client, channel } = await stalledChannel(proxy);
  try {
    let settled = false;
    const call = channel.publish([message(1)], 200).then((o) => {
      settled = true;
      return o;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    channel.pause();
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(settled, false, "paused: the deadline stood still");
    const resumed = performance.now();
    channel.resume();
    assert.deepEqual(kinds(await call), ["timeout"]);
    const left = performance.now() - resumed;
    assert.ok(left >= 80 && left < 1_000, `ran out ${left} ms after resume(), ~100 ms expected`);
  } finally {
    proxy.restore();
    await client.close().catch(() => {});
  }
});
