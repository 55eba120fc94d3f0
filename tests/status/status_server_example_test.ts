import assert from "node:assert/strict";
import { BROKER_URL, TestConsumer, uniqueName } from "../_broker.ts";
import { until } from "../_wait.ts";
import { main } from "../../examples/status_server.ts";
import { parseExposition, sampleValue } from "./_parse_exposition.ts";

Deno.test("examples/status_server.ts serves the endpoints over HTTP while events flow", async () => {
  const exchange = uniqueName("examples.status");
  // Declares nothing new but the exchange; deletes it and its dead letters at the end.
  await using _cleanup = await TestConsumer.start({ exchange, bindingKey: null });
  const controller = new AbortController();
  const lines: string[] = [];
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const running = main({
    url: BROKER_URL,
    exchange,
    port: 0,
    eventsPerSecond: 200,
    signal: controller.signal,
    onListen: listening.resolve,
    log: (line) => lines.push(line),
  });
  try {
    const { port } = await Promise.race([
      listening.promise,
      running.then(() => {
        throw new Error(`the example ended before listening:\n${lines.join("\n")}`);
      }),
    ]);
    const base = `http://127.0.0.1:${port}`;
    const read = async (path: string) => {
      const response = await fetch(base + path);
      return { status: response.status, body: await response.text() };
    };
    assert.deepEqual(await read("/healthz"), { status: 200, body: '{\n  "status": "ok"\n}\n' });
    assert.deepEqual((await read("/readyz")).status, 200);
    // Every 25th event is unroutable: wait for the first dead letter.
    await until(async () => {
      const metrics = parseExposition((await read("/metrics")).body);
      return sampleValue(metrics, "rabbitmq_publisher_published_events_total") >= 24 &&
        sampleValue(metrics, "rabbitmq_publisher_dead_lettered_events_total") >= 1;
    }, "24 events confirmed and one dead-lettered");
    const page = await read("/");
    assert.deepEqual(page.status, 200);
    assert.match(
      page.body,
      new RegExp(`<title>Publisher of ${exchange.replace(".", "\\.")}</title>`),
    );
    assert.match(page.body, /data-metric="connection\.state" data-value="connected"/);
  } finally {
    controller.abort();
    await running;
  }
  const output = lines.join("\n");
  assert.match(
    output,
    /Serving the status of "examples\.status\.[0-9a-f]{8}" on http:\/\/127\.0\.0\.1:\d+\//,
  );
  assert.match(output, /Stopped after \d+ events: \d+ confirmed, [1-9]\d* dead-lettered/);
  assert.doesNotMatch(output, /\[publisher error\]/);
});
