// A broker that refuses the setup at connect (an exchange declared with
// another type, a wrong password) is a configuration error, not an outage:
// health shows it in the `configuration` check with the broker's words, the
// log says what to fix, and the next attempt waits the longest reconnect delay.

import assert from "node:assert/strict";
import { AMQPClient } from "@cloudamqp/amqp-client";
import { BROKER_URL, uniqueName } from "../_broker.ts";
import { recordingLogger } from "../_logger.ts";
import { sleep, until } from "../_wait.ts";
import { BrokerConfigurationError, createRabbitMQAsyncEventPublisher } from "../../mod.ts";

async function withExchange(name: string, type: string, fn: () => Promise<void>): Promise<void> {
  const client = new AMQPClient(BROKER_URL);
  await client.connect();
  try {
    await (await client.channel()).exchangeDeclare(name, type, { durable: true });
    await fn();
  } finally {
    await (await client.channel()).exchangeDelete(name).catch(() => {});
    await client.close();
  }
}

Deno.test("an exchange that exists with another type shows in health as a configuration error until it is fixed", async () => {
  const exchange = uniqueName("config");
  await withExchange(exchange, "fanout", async () => {
    const logger = recordingLogger();
    const publisher = await createRabbitMQAsyncEventPublisher(
      { url: BROKER_URL, exchange, reconnectBaseDelay: 50, reconnectMaxDelay: 1_500 },
      {},
      { logger },
    );
    try {
      const health = publisher.getHealth();
      assert.equal(health.checks.configuration.ok, false);
      assert.match(health.checks.configuration.reason ?? "", /PRECONDITION_FAILED/);
      assert.match(health.checks.configuration.reason ?? "", /set exchangeType/);
      assert.match(health.checks.configuration.reason ?? "", /amqp:\/\/guest:\*\*\*@/);
      assert.equal(publisher.getStats().configurationError?.name, "BrokerConfigurationError");
      const errors = logger.at("error");
      assert.equal(errors.length, 1, logger.at("warn").join("\n"));
      assert.match(
        errors[0],
        /refused the setup: .*'type' for exchange.*; the exchange ".*" exists/,
      );
      assert.match(errors[0], /Next attempt in 1500 ms$/);
      // With a 50 ms base delay an outage would have been retried a few times by now.
      await sleep(600);
      assert.equal(publisher.getStats().reconnectAttempts, 1);
      // The fix: the exchange goes, and the next attempt declares it anew.
      const client = new AMQPClient(BROKER_URL);
      await client.connect();
      await (await client.channel()).exchangeDelete(exchange);
      await client.close();
      await until(() => publisher.isRabbitMQAvailable, "the connection after the fix");
      assert.deepEqual(publisher.getHealth().checks.configuration, { ok: true });
      assert.equal(publisher.getStats().configurationError, undefined);
    } finally {
      await publisher.close();
    }
  });
});

Deno.test("a refused login rejects createRabbitMQAsyncEventPublisher() with requireConnection, naming the fix", async () => {
  const url = new URL(BROKER_URL);
  url.password = "not-the-password";
  const error = await createRabbitMQAsyncEventPublisher(
    { url: url.toString(), exchange: uniqueName("config") },
    {},
    { logger: recordingLogger(), requireConnection: true },
  ).then(() => undefined, (e) => e);
  assert(error instanceof BrokerConfigurationError, String(error));
  assert.equal(error.code, 403);
  assert.match(error.message, /ACCESS_REFUSED/);
  assert.match(
    error.message,
    /refused the login of user "guest".*check the user name and password/,
  );
  assert.doesNotMatch(error.message, /not-the-password/);
});
