// Persistence: what survives a restart and a kill -9 of the publishing process.

import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, testEvent } from "../_broker.ts";
import { TcpProxy } from "../_proxy.ts";
import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

Deno.test("events buffered during an outage survive a restart and drain in priority order", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/buffer/events.kv`;
  await using proxy = await TcpProxy.start();
  await using consumer = await TestConsumer.start();
  try {
    proxy.refuse();
    const first = await createRabbitMQAsyncEventPublisher(
      { url: proxy.url, exchange: consumer.exchange, reconnectBaseDelay: 50 },
      { bufferConfig: { enablePersistence: true, persistentStoragePath: path } },
    );
    const low = Array.from({ length: 30 }, (_, i) => testEvent(i, "low"));
    const normal = Array.from({ length: 30 }, (_, i) => testEvent(100 + i, "normal"));
    const high = Array.from({ length: 30 }, (_, i) => testEvent(200 + i, "high"));
    // Interleaved arrival; priority must still win on the way out.
    for (let i = 0; i < 30; i++) {
      for (const event of [low[i], normal[i], high[i]]) {
        assert.equal((await first.publish(event)).status, "buffered");
      }
    }
    const report = await first.close({ timeoutMs: 100 });
    assert.deepEqual(report, {
      remaining: 90,
      localDeadLetters: 0,
      timedOut: false,
      persistent: true,
      lost: { events: 0, deadLetters: 0 },
    });

    const second = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange: consumer.exchange },
      {
        bufferConfig: { enablePersistence: true, persistentStoragePath: path, flushBatchSize: 100 },
      },
    );
    try {
      const received = await consumer.waitFor(90);
      assert.deepEqual(
        received.map((m) => m.properties.messageId),
        [...high, ...normal, ...low].map((e) => e.id),
      );
    } finally {
      assert.equal((await second.close()).remaining, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every event whose publish() resolved is delivered after the process is killed with SIGKILL", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/events.kv`;
  await using consumer = await TestConsumer.start();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_crash_child.ts", import.meta.url).pathname,
        path,
        BROKER_URL,
        consumer.exchange,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const acknowledged: string[] = [];
    const decoder = new TextDecoderStream();
    const reader = child.stdout.pipeThrough(decoder).getReader();
    let partial = "";
    while (acknowledged.length < 1_500) {
      const { value, done } = await reader.read();
      if (done) break;
      const lines = (partial + value).split("\n");
      partial = lines.pop()!;
      acknowledged.push(...lines);
    }
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    assert(acknowledged.length >= 1_500, `the child printed only ${acknowledged.length} ids`);

    const restarted = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange: consumer.exchange },
      { bufferConfig: { enablePersistence: true, persistentStoragePath: path } },
    );
    try {
      const pendingAtStart = restarted.getEventBuffer().getStats().size;
      const received = () => new Set(consumer.messages.map((m) => m.properties.messageId));
      const deadline = Date.now() + 30_000;
      while (acknowledged.some((id) => !received().has(id)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const ids = received();
      const missing = acknowledged.filter((id) => !ids.has(id));
      const duplicates = consumer.messages.length - ids.size;
      console.log(
        `crash test: ${acknowledged.length} acknowledged, ${pendingAtStart} pending at restart, ` +
          `${consumer.messages.length} received, ` +
          `${duplicates} duplicates, ${missing.length} missing`,
      );
      assert.equal(missing.length, 0, `missing after the crash: ${missing.slice(0, 5).join(", ")}`);
    } finally {
      await restarted.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
