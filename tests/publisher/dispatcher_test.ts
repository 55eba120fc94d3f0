// The dispatcher as a state machine, seen through its debug log: each mode
// change is logged once, with its reason, and only the allowed ones happen.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { until } from "../_wait.ts";
import { createRabbitMQAsyncEventPublisher, type Logger } from "../../mod.ts";

function recordingLogger(): { logger: Logger; transitions: string[] } {
  const transitions: string[] = [];
  const logger: Logger = {
    debug: (...args: unknown[]) => {
      const line = args.join(" ");
      const match = /^dispatcher (\w+ -> \w+): .+/.exec(line);
      if (match) transitions.push(match[1]);
    },
    info() {},
    warn() {},
    error() {},
  };
  return { logger, transitions };
}

Deno.test("the dispatcher drains after a reconnect, flushes on flush(), then closes, logging each change", async () => {
  const { logger, transitions } = recordingLogger();
  const fake = new FakeTransport({ startConnected: false, reconnectDelayMs: undefined });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: "x" },
    { batchSize: 10, flushInterval: 60_000 },
    { transport: fake, logger },
  );
  try {
    for (let i = 0; i < 3; i++) await publisher.publish({ id: `e${i}`, type: "t", data: {} });
    assert.deepEqual(transitions, [], "nothing to do while disconnected");
    fake.reconnect();
    await until(() => publisher.getStats().publishedEvents === 3, "3 events confirmed");
    assert.deepEqual(transitions, ["idle -> draining", "draining -> idle"]);

    await publisher.publish({ id: "e3", type: "t", data: {} });
    assert.equal(await publisher.flush(5_000), 0);
    assert.deepEqual(transitions.slice(2), ["idle -> flushing", "flushing -> idle"]);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
  assert.deepEqual(transitions.slice(4), ["idle -> closing", "closing -> closed"]);
  assert.equal(publisher.getHealth().checks.intake.reason, "the publisher is closed");
});

Deno.test("a partial batch waits for flushInterval, then goes in a flush of its own", async () => {
  const { logger, transitions } = recordingLogger();
  const fake = new FakeTransport();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: "x" },
    { batchSize: 10, flushInterval: 20 },
    { transport: fake, logger },
  );
  try {
    await publisher.publish({ id: "e1", type: "t", data: {} });
    await until(() => publisher.getStats().publishedEvents === 1, "the event confirmed");
    assert.deepEqual(transitions, ["idle -> flushing", "flushing -> idle"]);
    assert.equal(fake.sends.length, 1);
  } finally {
    await publisher.close({ timeoutMs: 1_000 });
    await fake.close();
  }
});
