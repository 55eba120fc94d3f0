// Runs every example's main() against the local broker, each on a fresh
// exchange, and checks what it printed.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, uniqueName } from "./_broker.ts";
import type { ExampleOptions } from "../examples/_common.ts";
import { main as basic } from "../examples/basic.ts";
import { main as container } from "../examples/container.ts";
import { main as deadLetters } from "../examples/dead_letters.ts";
import { main as monitoring } from "../examples/monitoring.ts";
import { main as outage } from "../examples/outage.ts";

/** Runs `example` on a fresh exchange and returns what it printed; deletes the exchange after. */
async function run(example: (options?: ExampleOptions) => Promise<void>): Promise<string> {
  const exchange = uniqueName("examples");
  const lines: string[] = [];
  try {
    await example({ url: BROKER_URL, exchange, log: (line) => lines.push(line) });
  } catch (error) {
    // The example's failure is the one to report, not a cleanup failure after it.
    await deleteExchange(exchange).catch(() => {});
    throw new Error(`the example failed; it printed:\n${lines.join("\n")}`, { cause: error });
  }
  await deleteExchange(exchange);
  const output = lines.join("\n");
  assert.doesNotMatch(output, /\[publisher error\]/, output);
  return output;
}

/** Deletes the exchange and the dead-letter exchange and queue the publisher declared. */
async function deleteExchange(exchange: string): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    const channel = await client.channel();
    await channel.exchangeDelete(exchange);
    await channel.exchangeDelete(`${exchange}.dead-letter`);
    await channel.queueDelete(`${exchange}.dead-letter`);
  } finally {
    await client.close();
  }
}

function assertPrinted(output: string, pattern: RegExp): void {
  assert.match(output, pattern, `expected ${pattern} in:\n${output}`);
}

Deno.test("examples/basic.ts confirms the high-priority event and delivers the batch", async () => {
  const output = await run(basic);
  assertPrinted(output, /Published high-priority recording\.failed .*: status "confirmed"\./);
  assertPrinted(output, /Published a batch of 20 normal events: 20 "queued"\./);
  assertPrinted(output, /Flushed: 0 events still pending\./);
  assertPrinted(output, /The consumer received all 21 events\./);
  assertPrinted(output, /Stats: 21 published, 0 failed/);
  assertPrinted(output, /Closed: 0 events remaining, timed out: false, persistent: true\./);
});

Deno.test("examples/container.ts publishes through the container's publisher and closes it", async () => {
  const output = await run(container);
  assertPrinted(output, /The use case published recording\.failed .*: status "confirmed"\./);
  assertPrinted(output, /returns the same publisher: true\./);
  assertPrinted(output, /The consumer received the event\./);
  assertPrinted(output, /The container is disposed: the publisher is closed\./);
});

Deno.test("examples/monitoring.ts reports the failed buffer check, then a healthy publisher", async () => {
  const output = await run(monitoring);
  assertPrinted(output, /Stats: 0 published, 0 failed, RabbitMQ available: true/);
  assertPrinted(output, /Publisher healthy: false\./);
  assertPrinted(output, /Failed check "buffer": the buffer is 95% full \(19\/20 events/);
  assertPrinted(output, /Buffer utilization: 95%\./);
  assertPrinted(output, /Stats: 19 published, 0 failed/);
  assertPrinted(output, /Publisher healthy: true\./);
  assertPrinted(output, /Buffer utilization: 0%\./);
  assertPrinted(output, /Closed with 0 events remaining\./);
});

Deno.test("examples/outage.ts buffers during the cut, on disk, and drains to 0 afterwards", async () => {
  const output = await run(outage);
  assertPrinted(output, /Broker reachable: published 5 events, all delivered\./);
  assertPrinted(output, /during the outage: status "buffered"\./);
  assertPrinted(
    output,
    /1 s: published 15 more \(all "buffered"\); buffer 16\/100 events, 16% full\./,
  );
  assertPrinted(
    output,
    /3 s: published 15 more \(all "buffered"\); buffer 46\/100 events, 46% full\./,
  );
  assertPrinted(output, /46 events wait on disk/);
  assertPrinted(output, /Healthy: false; connection check: RabbitMQ is/);
  assertPrinted(output, /after \d+ ms: 0 events pending\./);
  assertPrinted(output, /The consumer received all 51 events; 51 confirmed by RabbitMQ, 0 pending/);
  assertPrinted(output, /Closed: 0 events remaining\./);
});

Deno.test("examples/dead_letters.ts dead-letters an unroutable event and replays it", async () => {
  const output = await run(deadLetters);
  assertPrinted(output, /where no queue is bound: "dead-lettered" \(reason "unroutable"\)\./);
  assertPrinted(output, /Stats: 0 published, 1 failed, 1 dead-lettered; last error: unroutable/);
  assertPrinted(output, /\(broker\): reason "unroutable", 1 attempt\(s\)/);
  assertPrinted(output, /Replayed 1 dead letter\(s\), 0 failed\./);
  assertPrinted(output, /The consumer received the replayed event/);
});
