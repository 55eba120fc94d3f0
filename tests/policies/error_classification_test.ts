import assert from "node:assert/strict";
import {
  AMQP_REPLY_CODES,
  classifyError,
  type ErrorClassification,
  TRANSPORT_ERROR_KINDS,
} from "../../src/policies/error_classification.ts";
import {
  BufferFullError,
  EventValidationError,
  PublisherClosedError,
  PublishTimeoutError,
  TransportError,
  type TransportErrorKind,
} from "../../src/errors.ts";
import type { DeadLetterReason } from "../../src/store/store.ts";

const RETRIABLE: ErrorClassification = { retriable: true };
const permanent = (reason: DeadLetterReason): ErrorClassification => ({
  retriable: false,
  reason,
});

// Written out here rather than read from the table, so a changed row fails.
const EXPECTED_KINDS: [TransportErrorKind, ErrorClassification][] = [
  ["not-connected", RETRIABLE],
  ["connection-lost", RETRIABLE],
  ["channel-closed", RETRIABLE],
  ["nack", RETRIABLE],
  ["blocked", RETRIABLE],
  ["timeout", RETRIABLE],
  ["unroutable", permanent("unroutable")],
  ["unencodable", permanent("rejected")],
];

const EXPECTED_CODES: [number, string, ErrorClassification][] = [
  [311, "CONTENT_TOO_LARGE", permanent("too-large")],
  [312, "NO_ROUTE", permanent("unroutable")],
  [320, "CONNECTION_FORCED", RETRIABLE],
  [403, "ACCESS_REFUSED", permanent("access-refused")],
  [404, "NOT_FOUND", RETRIABLE],
  [405, "RESOURCE_LOCKED", RETRIABLE],
  [406, "PRECONDITION_FAILED", permanent("precondition-failed")],
  [503, "COMMAND_INVALID", RETRIABLE],
  [504, "CHANNEL_ERROR", RETRIABLE],
  [506, "RESOURCE_ERROR", RETRIABLE],
  [541, "INTERNAL_ERROR", RETRIABLE],
];

function verdict(classification: ErrorClassification): string {
  return classification.retriable ? "retriable" : `permanent (${classification.reason})`;
}

for (const [kind, expected] of EXPECTED_KINDS) {
  Deno.test(`classifyError() judges a TransportError of kind "${kind}" ${verdict(expected)}`, () => {
    assert.deepEqual(TRANSPORT_ERROR_KINDS[kind], expected);
    for (const sent of [false, true]) {
      assert.deepEqual(
        classifyError(new TransportError(kind, `failed: ${kind}`, { sent })),
        expected,
      );
    }
  });
}

Deno.test('classifyError() judges "closed-by-broker" by its reply code', () => {
  assert.equal(TRANSPORT_ERROR_KINDS["closed-by-broker"], "by-reply-code");
});

Deno.test("TRANSPORT_ERROR_KINDS has a row for every TransportErrorKind", () => {
  const kinds = [...EXPECTED_KINDS.map(([kind]) => kind), "closed-by-broker"];
  assert.deepEqual(Object.keys(TRANSPORT_ERROR_KINDS).sort(), kinds.sort());
});

for (const [code, name, expected] of EXPECTED_CODES) {
  Deno.test(`classifyError() judges reply code ${code} ${name} ${verdict(expected)}`, () => {
    assert.deepEqual(AMQP_REPLY_CODES[code], { name, classification: expected });

    const closed = new TransportError("closed-by-broker", `${name} - refused`, {
      code,
      sent: true,
    });
    assert.deepEqual(classifyError(closed), expected);

    const channelClosed = new Error(`channel 1 closed: ${name} - something happened (${code})`);
    assert.deepEqual(classifyError(channelClosed), expected);

    const connectionClosed = new Error(`connection closed: ${name} - something happened (${code})`);
    assert.deepEqual(classifyError(connectionClosed), expected);
  });
}

Deno.test("AMQP_REPLY_CODES has exactly the documented rows", () => {
  const codes = Object.keys(AMQP_REPLY_CODES).map(Number);
  assert.deepEqual(codes.sort(), EXPECTED_CODES.map(([code]) => code).sort());
});

Deno.test("AMQP_REPLY_CODES cannot be changed at run time", () => {
  assert.ok(Object.isFrozen(AMQP_REPLY_CODES));
  assert.ok(Object.isFrozen(AMQP_REPLY_CODES[403]));
  assert.ok(Object.isFrozen(AMQP_REPLY_CODES[403].classification));
  assert.ok(Object.isFrozen(TRANSPORT_ERROR_KINDS));
});

Deno.test("classifyError() retries a closed-by-broker TransportError with an unknown code", () => {
  for (const code of [200, 313, 402, 501, 530, 540, 999]) {
    const error = new TransportError("closed-by-broker", "closed", { code, sent: true });
    assert.deepEqual(classifyError(error), RETRIABLE);
  }
});

Deno.test("classifyError() reads the code of a closed-by-broker TransportError from its message when it has no code", () => {
  const error = new TransportError("closed-by-broker", "channel 1 closed: ACCESS_REFUSED (403)", {
    sent: true,
  });
  assert.deepEqual(classifyError(error), permanent("access-refused"));
});

Deno.test("classifyError() retries a closed-by-broker TransportError without any code", () => {
  const error = new TransportError("closed-by-broker", "closed", { sent: true });
  assert.deepEqual(classifyError(error), RETRIABLE);
});

Deno.test("classifyError() judges a TransportError by its kind, not by a code in its message", () => {
  const error = new TransportError("connection-lost", "connection closed: ACCESS_REFUSED (403)", {
    code: 403,
    sent: true,
  });
  assert.deepEqual(classifyError(error), RETRIABLE);
});

Deno.test("classifyError() parses the client's channel-close message for NOT_FOUND as retriable", () => {
  const error = new Error("channel 1 closed: NOT_FOUND - no exchange 'x' in vhost '/' (404)");
  assert.deepEqual(classifyError(error), RETRIABLE);
});

Deno.test("classifyError() parses a reply code followed by trailing whitespace", () => {
  assert.deepEqual(classifyError(new Error("closed: NO_ROUTE (312)  ")), permanent("unroutable"));
});

Deno.test("classifyError() ignores a code in parentheses that is not at the end of the message", () => {
  assert.deepEqual(classifyError(new Error("ACCESS_REFUSED (403) and then more")), RETRIABLE);
});

Deno.test("classifyError() does not take a four-digit WebSocket close code for a reply code", () => {
  assert.deepEqual(classifyError(new Error("connection not cleanly closed (1006)")), RETRIABLE);
});

Deno.test("classifyError() judges an EventValidationError permanent (rejected)", () => {
  const error = new EventValidationError("id", "'id' must be a non-empty string: got \"\"");
  assert.deepEqual(classifyError(error), permanent("rejected"));
});

Deno.test("classifyError() judges an EventValidationError permanent even if its message ends with a retriable code", () => {
  const error = new EventValidationError("data", "bad data (404)");
  assert.deepEqual(classifyError(error), permanent("rejected"));
});

Deno.test("classifyError() judges a PublishTimeoutError retriable", () => {
  assert.deepEqual(classifyError(new PublishTimeoutError(30_000)), RETRIABLE);
});

Deno.test("classifyError() judges a BufferFullError retriable", () => {
  const error = new BufferFullError({ size: 10, maxSize: 10, bytes: 1, maxBytes: 100 });
  assert.deepEqual(classifyError(error), RETRIABLE);
});

Deno.test("classifyError() judges any other error retriable", () => {
  for (
    const error of [
      new Error("boom"),
      new TypeError("bad"),
      new PublisherClosedError(),
      "a string",
      undefined,
      null,
      { code: 403 },
      42,
    ]
  ) {
    assert.deepEqual(classifyError(error), RETRIABLE, `for ${String(error)}`);
  }
});

Deno.test("classifyError() judges a 406 for a message over the broker's max_message_size permanent (too-large)", () => {
  const text = "channel 1 closed: PRECONDITION_FAILED - message size 2097152 is larger than " +
    "configured max size 1048576 (406)";
  const closed = new TransportError("closed-by-broker", text, { code: 406, sent: true });
  assert.deepEqual(classifyError(closed), permanent("too-large"));
  assert.deepEqual(classifyError(new Error(text)), permanent("too-large"));
  // Another 406 keeps its reason.
  const other = new TransportError("closed-by-broker", "PRECONDITION_FAILED - inequivalent arg", {
    code: 406,
    sent: true,
  });
  assert.deepEqual(classifyError(other), permanent("precondition-failed"));
});
