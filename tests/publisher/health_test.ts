// getHealth() as an operator reads it: each failed check says why.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { createRabbitMQAsyncEventPublisher } from "../../mod.ts";

Deno.test("getHealth() reports a pending event that waits too long, with its age", async () => {
  let now = 1_000_000;
  const fake = new FakeTransport({ startConnected: false, reconnectDelayMs: undefined });
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: "x" },
    { publishTimeout: 10_000 },
    { transport: fake, now: () => now },
  );
  try {
    await publisher.publish({ id: "e1", type: "t", data: {} });
    assert.equal(publisher.getHealth().checks.delivery.ok, true, "fresh events are fine");
    now += 61_000; // beyond max(2 × publishTimeout, 60 s)
    const health = publisher.getHealth();
    assert.equal(health.healthy, false);
    assert.deepEqual(health.checks.delivery, {
      ok: false,
      reason: "the oldest pending event has waited 61 s (1 pending); nothing confirmed since start",
    });
    assert.equal(health.checks.connection.ok, false);
    assert.match(health.checks.connection.reason ?? "", /^RabbitMQ is disconnected/);
    assert.equal(health.checks.intake.ok, true);
  } finally {
    await publisher.close({ timeoutMs: 0 });
    await fake.close();
  }
});

Deno.test("getHealth() does not call a deliberately idle queue stuck when background processing is off", async () => {
  let now = 1_000_000;
  const fake = new FakeTransport();
  const publisher = await createRabbitMQAsyncEventPublisher(
    { exchange: "x" },
    { enableBackgroundProcessing: false },
    { transport: fake, now: () => now },
  );
  try {
    await publisher.publish({ id: "e1", type: "t", data: {} });
    now += 3_600_000;
    assert.equal(publisher.getHealth().checks.delivery.ok, true);
  } finally {
    await publisher.close({ timeoutMs: 100 });
    await fake.close();
  }
});
