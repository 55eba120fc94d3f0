import assert from "node:assert/strict";
import { type DomainEvent, encodeEvent, EventValidationError } from "../mod.ts";
import { utf8Length } from "../src/event.ts";

function withData(data: unknown, metadata?: Record<string, unknown>): DomainEvent {
  return { id: "evt-1", type: "thing.happened", timestamp: new Date(0), data, metadata };
}

function refusal(event: DomainEvent): EventValidationError {
  try {
    encodeEvent(event);
  } catch (error) {
    assert(error instanceof EventValidationError, String(error));
    return error;
  }
  throw new assert.AssertionError({ message: "encodeEvent() accepted the event" });
}

class Point {
  constructor(readonly x: number, readonly y: number) {}
}

class Money {
  constructor(readonly cents: number) {}
  toJSON() {
    return { amount: this.cents / 100, currency: "EUR" };
  }
}

Deno.test("encodeEvent() refuses a Map in data with its path and what to send instead", () => {
  const error = refusal(withData({ tags: new Map([["a", 1]]) }));
  assert.deepEqual(error.field, "data.tags");
  assert.deepEqual(error.message, "data.tags: Map is not JSON; convert it to an array or object");
});

Deno.test("encodeEvent() refuses every value JSON.stringify would change, drop or refuse", () => {
  const cases: [unknown, string, string][] = [
    [{ tags: new Set([1]) }, "data.tags", "Set is not JSON"],
    [{ score: NaN }, "data.score", "NaN is not JSON"],
    [{ score: Infinity }, "data.score", "Infinity is not JSON"],
    [{ score: -Infinity }, "data.score", "-Infinity is not JSON"],
    [{ total: 10n }, "data.total", "BigInt (10n) is not JSON"],
    [{ onDone: () => {} }, "data.onDone", "a function is not JSON"],
    [{ kind: Symbol("k") }, "data.kind", "a symbol is not JSON"],
    [{ at: new Point(1, 2) }, "data.at", "a Point instance is not JSON"],
    [{ at: new Date(NaN) }, "data.at", "Invalid Date is not JSON"],
    [{ list: [1, undefined, 3] }, "data.list[1]", "undefined in an array is not JSON"],
    // deno-lint-ignore no-sparse-arrays
    [{ list: [1, , 3] }, "data.list[1]", "undefined in an array is not JSON"],
    [{ bytes: new Uint8Array(2) }, "data.bytes", "Uint8Array is not JSON"],
    [{ pattern: /a+/ }, "data.pattern", "RegExp is not JSON"],
    [{ failure: new TypeError("x") }, "data.failure", "TypeError is not JSON"],
    [{ later: Promise.resolve(1) }, "data.later", "a Promise is not JSON"],
    [{ name: new String("x") }, "data.name", "a String object is not JSON"],
    [new Map(), "data", "Map is not JSON"],
    [NaN, "data", "NaN is not JSON"],
  ];
  for (const [data, field, start] of cases) {
    const error = refusal(withData(data));
    assert.deepEqual(error.field, field, error.message);
    assert(error.message.startsWith(`${field}: ${start}`), error.message);
  }
});

Deno.test("encodeEvent() names nested fields by their path, quoting keys that are not identifiers", () => {
  const items = [{ price: 1 }, { price: 2 }, { price: NaN }];
  assert.deepEqual(refusal(withData({ order: { items } })).field, "data.order.items[2].price");
  assert.deepEqual(
    refusal(withData({ "a b": { "x-y": [[new Set()]] } })).field,
    'data["a b"]["x-y"][0][0]',
  );
});

Deno.test("encodeEvent() refuses a cycle with the path where it closes, and accepts shared values", () => {
  const order: Record<string, unknown> = { id: 1 };
  order.lines = [{ order }];
  const error = refusal(withData({ order }));
  assert.deepEqual(error.field, "data.order.lines[0].order");
  assert(error.message.includes("circular reference"), error.message);

  const shared = { sku: "a" };
  const body = JSON.parse(encodeEvent(withData({ first: shared, second: [shared] })).body);
  assert.deepEqual(body.data, { first: { sku: "a" }, second: [{ sku: "a" }] });
});

Deno.test("encodeEvent() refuses a value JSON would change in the metadata's extra fields", () => {
  const error = refusal(withData({}, { tenant: new Map() }));
  assert.deepEqual(error.field, "metadata.tenant");
  assert.deepEqual(refusal(withData({}, { weight: Infinity })).field, "metadata.weight");
});

Deno.test("encodeEvent() refuses a version that is NaN or infinite, and keeps a finite one", () => {
  for (const version of [NaN, Infinity, -Infinity]) {
    const error = refusal({ ...withData({}), version });
    assert.deepEqual(error.field, "version");
    assert(error.message.includes(String(version)), error.message);
  }
  assert.deepEqual(JSON.parse(encodeEvent({ ...withData({}), version: 2 }).body).version, 2);
});

Deno.test("encodeEvent() keeps Dates, toJSON() results, null-prototype objects and omits undefined properties", () => {
  const bare = Object.assign(Object.create(null), { k: "v" });
  const data = {
    at: new Date(0),
    price: new Money(250),
    bare,
    nested: [[1, "two", true, null, -0.5]],
    optional: undefined,
  };
  const body = JSON.parse(encodeEvent(withData(data)).body);
  assert.deepEqual(body.data, {
    at: "1970-01-01T00:00:00.000Z",
    price: { amount: 2.5, currency: "EUR" },
    bare: { k: "v" },
    nested: [[1, "two", true, null, -0.5]],
  });
});

Deno.test("encodeEvent() accepts 1,000 levels of nesting and refuses deeper, naming the level", () => {
  const nest = (levels: number) => {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = [value];
    return value;
  };
  assert.equal(JSON.parse(encodeEvent(withData(nest(1_000))).body).data.length, 1);
  const error = refusal(withData(nest(200_000)));
  assert.equal(error.field, "data" + "[0]".repeat(1_000));
  assert(error.message.endsWith("nesting deeper than 1000 levels is refused; flatten it"));
});

Deno.test("encodeEvent() names the getter that throws while the data is read", () => {
  const data = {
    get broken(): never {
      throw new Error("no value");
    },
  };
  const error = refusal(withData(data));
  assert.deepEqual(error.field, "data");
  assert(error.message.includes("no value"), error.message);
});

Deno.test("utf8Length() agrees with TextEncoder on ASCII, 2-, 3- and 4-byte characters, short and long", () => {
  const encoder = new TextEncoder();
  const texts = ["", 'plain ascii {"a":1}', "é", "€uro", "😀 emoji", "a\u0000b", "ü".repeat(300)];
  // Lone surrogates count as the replacement character TextEncoder writes.
  texts.push("\ud800", "x\udc00y", "\ud800\ud83d\ude00");
  // Past what it encodes in its own memory (a million bytes), it counts.
  for (const text of [...texts]) texts.push(text + "k".repeat(400_000), "k".repeat(400_000) + text);
  for (const text of texts) {
    assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text.slice(0, 20)));
  }
});

Deno.test("encodeEvent() holds id, type, correlation id and routing key to 255 bytes of UTF-8, however short in characters", () => {
  const fits = [
    "k".repeat(255),
    "é".repeat(127) + "k", // 255 bytes in 128 characters
    "€".repeat(85), // 255 bytes in 85 characters
    "😀".repeat(63) + "abc", // 255 bytes in 129 code units
  ];
  const tooLong = ["k".repeat(256), "é".repeat(128), "€".repeat(85) + "k", "😀".repeat(64)];
  for (const text of fits) assert.equal(utf8Length(text), 255);
  for (const text of tooLong) assert(utf8Length(text) > 255);
  const event = (over: Partial<DomainEvent>): DomainEvent => ({ ...withData({}), ...over });
  for (const text of fits) {
    const encoded = encodeEvent(event({ id: text, type: text, metadata: { correlationId: text } }));
    assert.equal(encoded.routingKey, text);
    assert.equal(encoded.properties.correlationId, text);
  }
  for (const text of tooLong) {
    assert.equal(refusal(event({ id: text })).field, "id");
    assert.equal(refusal(event({ type: text })).field, "type");
    assert.equal(
      refusal(event({ metadata: { correlationId: text } })).field,
      "metadata.correlationId",
    );
    const byKey = () => encodeEvent(event({}), { routingKey: () => text });
    assert.throws(byKey, (e) => e instanceof EventValidationError && e.field === "routingKey");
  }
});

Deno.test("encodeEvent() writes the body one JSON.stringify() of the envelope would, timestamp by timestamp", () => {
  const events: DomainEvent[] = [
    { id: "a", type: "t", timestamp: new Date(1_000), data: { n: 1 } },
    // Back to an earlier millisecond after another: the cached text must follow.
    { id: "b", type: "t", timestamp: new Date(2_000), data: 'é \u2028 "quoted"' },
    { id: "c", type: "t", timestamp: new Date(1_000), data: [null, 1.5, { x: [] }] },
    {
      id: "d \u00e9",
      type: "t.u",
      version: 2,
      timestamp: "2026-12-03T10:00:00.123+01:00",
      data: { at: new Date(5), price: new Money(99) },
      metadata: { source: "s", priority: "low", correlationId: "c-1", extra: { k: [1] } },
    },
  ];
  for (const event of events) {
    const millis = event.timestamp instanceof Date
      ? event.timestamp.getTime()
      : Date.parse(event.timestamp as string);
    const whole = JSON.stringify({
      id: event.id,
      type: event.type,
      version: event.version ?? "1.0",
      timestamp: new Date(millis).toISOString(),
      data: event.data,
      metadata: { ...event.metadata, priority: event.metadata?.priority ?? "normal" },
    });
    assert.equal(encodeEvent(event).body, whole, `event ${event.id}`);
  }
});

Deno.test("encodeEvent() refuses data or metadata whose toJSON() returns undefined, naming the field", () => {
  const nothing = { toJSON: () => undefined };
  const error = refusal(withData(nothing));
  assert.equal(error.field, "data");
  assert.match(error.message, /toJSON\(\) returned undefined/);
  assert.equal(refusal(withData({ ok: 1 }, nothing as never)).field, "metadata");
});
