// The confirm tracker pairs every broker answer with the publish it concerns,
// by delivery tag: returns between acks, multiple and out-of-order acks and
// nacks, publishes that look the same, and channel closes over one publish.

import assert from "node:assert/strict";
import { ConfirmTracker, type PublishIdentity } from "../../src/amqp/_confirm_tracker.ts";
import type { SendOutcome } from "../../mod.ts";

function publishes(...specs: [exchange: string, routingKey: string, id: string, body: string][]) {
  const tracker = new ConfirmTracker();
  const outcomes = new Map<number, SendOutcome[]>();
  const identities = new Map<number, PublishIdentity>();
  specs.forEach(([exchange, routingKey, messageId, body], i) => {
    const tag = i + 1;
    const identity = { exchange, routingKey, messageId, body };
    identities.set(tag, identity);
    outcomes.set(tag, []);
    tracker.track(tag, { ...identity, settle: (outcome) => outcomes.get(tag)!.push(outcome) });
  });
  const seen = () =>
    [...outcomes.values()].map((list) =>
      list.map((o) => (o.ok ? "ok" : `${o.error.kind}${o.error.sent ? "" : "(unsent)"}`)).join(
        "+",
      ) ||
      "-"
    );
  return { tracker, identities, seen };
}

Deno.test("a return settles the publish whose ack follows it, not another with the same id", () => {
  const { tracker, identities, seen } = publishes(
    ["x", "routed", "same", "a"],
    ["x", "nowhere", "same", "b"],
    ["x", "routed", "same", "c"],
  );
  tracker.returned(identities.get(2)!, 312, "NO_ROUTE");
  tracker.ack(1, false);
  assert.deepEqual(seen(), ["ok", "-", "-"]);
  tracker.ack(3, true);
  assert.deepEqual(seen(), ["ok", "unroutable", "ok"]);
  assert.equal(tracker.size, 0);
});

Deno.test("two returns for two unroutable publishes with one id settle both", () => {
  const { tracker, identities, seen } = publishes(
    ["x", "nowhere", "same", "a"],
    ["x", "nowhere", "same", "b"],
  );
  tracker.returned(identities.get(1)!, 312, "NO_ROUTE");
  tracker.returned(identities.get(2)!, 312, "NO_ROUTE");
  tracker.ack(2, true);
  assert.deepEqual(seen(), ["unroutable", "unroutable"]);
});

Deno.test("out-of-order single, multiple and negative confirms settle exactly the tags they cover", () => {
  const { tracker, seen } = publishes(
    ["x", "k", "1", "1"],
    ["x", "k", "2", "2"],
    ["x", "k", "3", "3"],
    ["x", "k", "4", "4"],
    ["x", "k", "5", "5"],
    ["x", "k", "6", "6"],
  );
  tracker.ack(4, false);
  tracker.nack(2, false);
  assert.deepEqual(seen(), ["-", "nack", "-", "ok", "-", "-"]);
  tracker.ack(3, true); // covers 1 and 3; 2 and 4 are settled already
  assert.deepEqual(seen(), ["ok", "nack", "ok", "ok", "-", "-"]);
  tracker.nack(6, true);
  assert.deepEqual(seen(), ["ok", "nack", "ok", "ok", "nack", "nack"]);
  tracker.ack(6, true); // nothing left: no second outcome for anyone
  assert.deepEqual(seen(), ["ok", "nack", "ok", "ok", "nack", "nack"]);
});

Deno.test("an abandoned publish is settled by nobody, yet still takes its own return", () => {
  const { tracker, identities, seen } = publishes(
    ["x", "nowhere", "same", "a"],
    ["x", "nowhere", "same", "a"],
  );
  tracker.abandon(1); // timed out; sent again as 2
  tracker.returned(identities.get(1)!, 312, "NO_ROUTE");
  tracker.ack(1, false);
  tracker.ack(2, false);
  // The return answered 1, so 2 was routed after all.
  assert.deepEqual(seen(), ["-", "ok"]);
});

Deno.test("a channel closed over a missing exchange fails that publish; the others were not refused", () => {
  const { tracker, seen } = publishes(
    ["x", "k", "1", "1"],
    ["x", "k", "2", "2"],
    ["gone", "k", "3", "3"],
    ["x", "k", "4", "4"],
  );
  tracker.ack(1, false);
  const culprit = tracker.closed(
    "channel 1 closed: NOT_FOUND - no exchange 'gone' in vhost '/' (404)",
  );
  assert.equal(culprit, 3);
  assert.deepEqual(seen(), ["ok", "channel-closed", "closed-by-broker", "channel-closed(unsent)"]);
  assert.equal(tracker.size, 0);
});

Deno.test("a channel closed over a message too large fails the publish of that size", () => {
  const big = "x".repeat(2_000);
  const { tracker, seen } = publishes(["x", "k", "1", "1"], ["x", "k", "2", big]);
  tracker.closed(
    "channel 1 closed: PRECONDITION_FAILED - message size 2000 is larger than configured max " +
      "size 1000 (406)",
  );
  assert.deepEqual(seen(), ["channel-closed", "closed-by-broker"]);
});

Deno.test("a channel closed for a reason that names no publish fails them all as connection-lost", () => {
  const { tracker, seen } = publishes(["x", "k", "1", "1"], ["x", "k", "2", "2"]);
  assert.equal(tracker.closed("channel 1 closed: INTERNAL_ERROR (541)"), undefined);
  assert.deepEqual(seen(), ["connection-lost", "connection-lost"]);
});

Deno.test("refusedOnly holds after nacks until a routed publish is confirmed; an unroutable one's ack is no confirm", () => {
  const { tracker, identities, seen } = publishes(
    ["x", "routed", "1", "a"],
    ["x", "nowhere", "2", "b"],
    ["x", "routed", "3", "c"],
  );
  assert.equal(tracker.refusedOnly, false);
  tracker.nack(1, false);
  assert.equal(tracker.refusedOnly, true);
  tracker.returned(identities.get(2)!, 312, "NO_ROUTE");
  tracker.ack(2, false);
  assert.equal(tracker.refusedOnly, true);
  tracker.ack(3, false);
  assert.deepEqual(seen(), ["nack", "unroutable", "ok"]);
  assert.equal(tracker.refusedOnly, false);
});
