/**
 * The cost of encoding an event, and of the walk that refuses the values JSON
 * would change (`Map`, `Set`, `NaN`, class instances...), against the bare
 * `JSON.stringify` it precedes and against a `JSON.stringify` replacer, the
 * other way to see every value.
 *
 * ```sh
 * deno bench bench/event_bench.ts
 * ```
 *
 * @module
 */

import { type DomainEvent, encodeEvent } from "../mod.ts";
import { findNotJson } from "../src/_json_check.ts";

// The shape of bench/publisher_bench.ts's event: a 300-byte body.
const small: DomainEvent = {
  id: "run00000-1",
  type: "bench.happened",
  version: "1.0",
  timestamp: new Date(0),
  data: { n: 1, note: "x".repeat(180) },
  metadata: { source: "bench", priority: "normal", correlationId: "c-1" },
};

// A richer payload: nested objects, arrays of records, dates (about 4 KB).
const rich: DomainEvent = {
  ...small,
  data: {
    order: {
      id: "ord-1",
      customer: { id: "cus-1", name: "Ada", tags: ["vip", "eu"], since: new Date(0) },
      lines: Array.from({ length: 30 }, (_, i) => ({
        sku: `sku-${i}`,
        quantity: i + 1,
        price: { amount: 9.99 + i, currency: "EUR" },
        options: { gift: i % 2 === 0, note: null },
      })),
    },
  },
};

function bodyOf(event: DomainEvent): unknown {
  return { ...event, timestamp: new Date(0).toISOString() };
}

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("not finite");
  if (value instanceof Map || value instanceof Set) throw new TypeError("not JSON");
  return value;
}

for (const [name, event] of [["300 B", small], ["4 KB", rich]] as const) {
  const body = bodyOf(event);
  Deno.bench(`JSON.stringify alone (${name})`, { group: name, baseline: true }, () => {
    JSON.stringify(body);
  });
  Deno.bench(`findNotJson, then JSON.stringify (${name})`, { group: name }, () => {
    if (findNotJson(event.data, "data") ?? findNotJson(event.metadata, "metadata")) throw 0;
    JSON.stringify(body);
  });
  Deno.bench(`JSON.stringify with a checking replacer (${name})`, { group: name }, () => {
    JSON.stringify(body, replacer);
  });
  Deno.bench(`encodeEvent (${name})`, { group: name }, () => {
    encodeEvent(event);
  });
}
