import assert from "node:assert/strict";
import {
  isNotFound,
  replyCodeIn,
  toConfigurationError,
  toError,
  toTransportError,
} from "../../src/amqp/_errors.ts";
import { BrokerConfigurationError } from "../../src/errors.ts";

Deno.test("replyCodeIn() reads the three-digit reply code at the end of a close reason", () => {
  assert.equal(replyCodeIn("channel closed: NOT_FOUND - no exchange 'x' in vhost '/' (404)"), 404);
  assert.equal(replyCodeIn("connection closed: CONNECTION_FORCED (320) "), 320);
});

Deno.test("replyCodeIn() ignores four-digit WebSocket codes and codes not at the end", () => {
  assert.equal(replyCodeIn("websocket closed (1006)"), undefined);
  assert.equal(replyCodeIn("(404) then something else"), undefined);
  assert.equal(replyCodeIn("socket hang up"), undefined);
});

Deno.test("toError() returns an Error without credentials as the same object", () => {
  const error = new TypeError("connection refused");
  assert.equal(toError(error), error);
  assert.equal(toError("plain text").message, "plain text");
});

Deno.test("toError() masks a password in the message and keeps the error's name", () => {
  const error = new TypeError("connect to amqp://app:s3cret@rabbit:5672 failed");
  const masked = toError(error);
  assert.equal(masked.message, "connect to amqp://app:***@rabbit:5672 failed");
  assert.equal(masked.name, "TypeError");
  assert.equal(masked.cause, undefined, "the original, holding the password, is dropped");
});

Deno.test("toTransportError() maps a nack, a block, a reply code and anything else", () => {
  const nack = toTransportError(new Error("Message rejected"));
  assert.deepEqual([nack.kind, nack.sent], ["nack", true]);
  assert.match(nack.message, /basic\.nack/);

  const blocked = toTransportError(new Error("Connection blocked by server"));
  assert.deepEqual([blocked.kind, blocked.sent], ["blocked", false]);

  const closed = toTransportError(new Error("channel closed: PRECONDITION_FAILED - too big (406)"));
  assert.deepEqual([closed.kind, closed.code, closed.sent], ["closed-by-broker", 406, true]);

  const lost = toTransportError(new Error("socket closed"));
  assert.deepEqual([lost.kind, lost.code, lost.sent], ["connection-lost", undefined, true]);
});

Deno.test("toTransportError() never carries a password, in its message or its cause", () => {
  const error = toTransportError(new Error("lost amqp://app:s3cret@rabbit:5672 (320)"));
  assert.equal(error.message, "lost amqp://app:***@rabbit:5672 (320)");
  assert.ok(!String((error.cause as Error).message).includes("s3cret"));
});

Deno.test("isNotFound() recognises a 404 by its code or by its name", () => {
  assert.equal(isNotFound(new Error("NOT_FOUND - no queue 'q' in vhost '/' (404)")), true);
  assert.equal(isNotFound(new Error("channel closed: NOT_FOUND - no queue 'q'")), true);
  assert.equal(isNotFound(new Error("ACCESS_REFUSED - login refused (403)")), false);
});

Deno.test("toConfigurationError() names the fix for each refusal of the setup, and passes everything else by", async (t) => {
  const url = "amqp://app:s3cret@rabbit:5672/shop";
  const shown = "amqp://app:***@rabbit:5672/shop";
  const cases: [string, number, RegExp, RegExp][] = [
    [
      "channel 1 closed: PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'orders' (406)",
      406,
      /the exchange "orders" exists with other settings: set exchangeType/,
      /refused the setup: channel 1 closed: PRECONDITION_FAILED .* \(406\); the exchange/,
    ],
    [
      "connection closed: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. (403)",
      403,
      /^check the user name and password$/,
      /refused the login of user "app" on vhost "shop" \(ACCESS_REFUSED\): check the user/,
    ],
    [
      "channel 1 closed: ACCESS_REFUSED - access to exchange 'orders' in vhost 'shop' refused (403)",
      403,
      /give the user configure and write permissions on the exchange "orders"/,
      /refused the setup: .*access to exchange 'orders'/,
    ],
    [
      "connection closed: NOT_ALLOWED - vhost shop not found (530)",
      530,
      /^create the vhost, or grant the user access to it/,
      /does not let user "app" use vhost "shop" \(NOT_ALLOWED\)/,
    ],
  ];
  for (const [text, code, fix, message] of cases) {
    await t.step(`${code}: ${text.slice(0, 40)}`, () => {
      const error = toConfigurationError(new Error(text), url, "orders");
      assert(error instanceof BrokerConfigurationError);
      assert.equal(error.code, code);
      assert.equal(error.url, shown);
      assert.match(error.fix, fix);
      assert.match(error.message, message);
      assert(error.message.startsWith(`RabbitMQ at ${shown} `), error.message);
      assert(error.message.endsWith(error.fix), error.message);
      assert.doesNotMatch(error.message, /s3cret/);
    });
  }
  for (const text of ["connect ECONNREFUSED 127.0.0.1:5672", "NOT_FOUND - home node down (404)"]) {
    assert.equal(toConfigurationError(new Error(text), url, "orders"), undefined, text);
  }
});
