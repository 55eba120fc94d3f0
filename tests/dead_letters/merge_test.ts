import assert from "node:assert/strict";
import type { DeadLetter } from "../../src/dead_letters/dead_letter.ts";
import { mergeLetters } from "../../src/dead_letters/_merge.ts";

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

Deno.test("mergeLetters() keeps the broker copy of a letter caught between the store and the broker", () => {
  const moving = letter("moving");
  const local = [letter("only-local"), moving];
  const broker = [
    { ...moving, location: "broker" as const },
    // Same id, dead-lettered again later (a replay that failed again): another letter.
    letter("moving", { deadLetteredAt: NOW, location: "broker" }),
    letter("only-broker", { location: "broker" }),
  ];
  assert.deepEqual(mergeLetters(local, broker).map((l) => `${l.id}@${l.location}`), [
    "only-local@local",
    "moving@broker",
    "moving@broker",
    "only-broker@broker",
  ]);
  assert.deepEqual(mergeLetters(local, []), local);
  assert.deepEqual(mergeLetters([], broker), broker);
});
