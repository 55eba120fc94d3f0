// getHealth() as an operator reads it: each failed check says why.

import assert from "node:assert/strict";
import { FakeTransport } from "../_fake_transport.ts";
import { BrokerConfigurationError, createRabbitMQAsyncEventPublisher } from "../../mod.ts";

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

Deno.test("getHealth() shows the broker's refusal of the setup in the configuration check until a connection succeeds", async () => {
  const fake = new FakeTransport({ reconnectDelayMs: undefined });
  const publisher = await createRabbitMQAsyncEventPublisher({ exchange: "x" }, {}, {
    transport: fake,
  });
  try {
    assert.deepEqual(publisher.getHealth().checks.configuration, { ok: true });
    const message = "RabbitMQ at amqp://app:***@rabbit:5672 refused the setup: " +
      "PRECONDITION_FAILED - inequivalent arg 'type' (406); set exchangeType to the exchange's type";
    fake.disconnect(
      new BrokerConfigurationError(message, {
        code: 406,
        url: "amqp://app:***@rabbit:5672",
        fix: "set exchangeType to the exchange's type",
      }),
    );
    const health = publisher.getHealth();
    assert.equal(health.healthy, false);
    assert.deepEqual(health.checks.configuration, { ok: false, reason: message });
    assert.equal(publisher.getStats().configurationError?.name, "BrokerConfigurationError");
    fake.reconnect();
    assert.deepEqual(publisher.getHealth().checks.configuration, { ok: true });
    assert.equal(publisher.getStats().configurationError, undefined);
  } finally {
    await publisher.close({ timeoutMs: 100 });
    await fake.close();
  }
});
