import assert from "node:assert/strict";
import type { DeadLetter } from "../../src/dead_letters/dead_letter.ts";
import { isFiltered, matcher } from "../../src/cli/_select.ts";

const NOW = Date.parse("2026-01-01T12:00:00Z");

function letter(id: string, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id,
    type: "order.created",
    reason: "expired",
    attempts: 0,
    deadLetteredAt: NOW - 60_000,
    originalExchange: "orders",
    originalRoutingKey: "order.created",
    body: "{}",
    properties: { headers: {} },
    location: "local",
    ...overrides,
  };
}

Deno.test("matcher() keeps a letter only when it matches every filter given", () => {
  const letters = [
    letter("a"),
    letter("b", { reason: "evicted" }),
    letter("c", { type: "user.created" }),
    letter("d", { deadLetteredAt: NOW - 3 * 3_600_000 }),
    letter("e", { reason: "unknown", type: "order.shipped.eu" }),
  ];
  const ids = (filter: Parameters<typeof matcher>[0]) =>
    letters.filter(matcher(filter, NOW)).map((l) => l.id);
  assert.deepEqual(ids({}), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(ids({ reasons: ["evicted", "unknown"] }), ["b", "e"]);
  assert.deepEqual(ids({ types: ["order.*"] }), ["a", "b", "d", "e"]);
  assert.deepEqual(ids({ types: ["order.created", "user.*"] }), ["a", "b", "c", "d"]);
  assert.deepEqual(ids({ types: ["order."] }), []); // exact unless a * says otherwise
  assert.deepEqual(ids({ olderThanMs: 2 * 3_600_000 }), ["d"]);
  assert.deepEqual(ids({ reasons: ["expired"], types: ["order.*"], olderThanMs: 30_000 }), [
    "a",
    "d",
  ]);
});

Deno.test("matcher() treats the characters of a type pattern literally, but for *", () => {
  const match = matcher({ types: ["a.(b)+*"] }, NOW);
  assert(match(letter("x", { type: "a.(b)+anything" })));
  assert(!match(letter("y", { type: "aX(b)+" })));
  assert(!match(letter("z", { type: "a.bb" })));
});

Deno.test("isFiltered() is true as soon as one filter is set", () => {
  assert.equal(isFiltered({}), false);
  assert.equal(isFiltered({ reasons: ["expired"] }), true);
  assert.equal(isFiltered({ types: ["x"] }), true);
  assert.equal(isFiltered({ olderThanMs: 1 }), true);
});
