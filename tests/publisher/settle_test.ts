import assert from "node:assert/strict";
import { encodeEvent, TransportError, type TransportErrorKind } from "../../mod.ts";
import type { PendingRecord } from "../../src/store/store.ts";
import type { SendOutcome } from "../../src/amqp/transport.ts";
import { BLOCKED_RETRY_MS, settle, type SettlePolicy } from "../../src/publisher/_settle.ts";

const NOW = 1_000_000;
const policy: SettlePolicy = {
  retry: { maxRetries: 3, baseDelay: 1_000, maxDelay: 60_000, multiplier: 2 },
  random: () => 0.5,
};

function record(id: string, fields: Partial<PendingRecord> = {}): PendingRecord {
  const event = encodeEvent({ id, type: "test.settled", data: {} });
  return {
    ...event,
    exchange: "events",
    acceptedAt: NOW - 5_000,
    seq: Number(id.replace(/\D/g, "")) || 0,
    attempts: 0,
    nextAttemptAt: 0,
    ...fields,
  };
}

const ok: SendOutcome = { ok: true };
function failed(
  kind: TransportErrorKind,
  sent: boolean,
  message = `${kind} happened`,
): SendOutcome {
  return { ok: false, error: new TransportError(kind, message, { sent }) };
}

Deno.test("settle() confirms every event the broker acknowledged and touches nothing else", () => {
  const batch = [record("e1"), record("e2")];
  const s = settle(batch, [ok, ok], policy, NOW);
  assert.deepEqual(s.confirmed, batch);
  assert.deepEqual(s.retry, []);
  assert.deepEqual(s.deadLetters, []);
  assert.equal(s.neverSent + s.unknownOutcome + s.retried, 0);
  assert.equal(s.breakerFailure, undefined);
  assert.equal(s.lastError, undefined);
  assert.equal(s.wakeAt, undefined);
});

Deno.test("settle() charges an attempt to a sent but unconfirmed event and backs it off", () => {
  const s = settle([record("e1", { attempts: 1 })], [failed("timeout", true)], policy, NOW);
  assert.equal(s.retry.length, 1);
  const [retry] = s.retry;
  assert.equal(retry.attempts, 2);
  assert.equal(retry.outcomeUnknown, true);
  assert.equal(retry.firstFailureAt, NOW);
  assert.equal(retry.lastFailureAt, NOW);
  assert.equal(retry.lastError, "TransportError: timeout happened");
  // Attempt 2: ceiling 2000 ms, half of it with random() = 0.5.
  assert.equal(retry.nextAttemptAt, NOW + 1_000);
  assert.equal(s.wakeAt, NOW + 1_000);
  assert.deepEqual([s.unknownOutcome, s.neverSent, s.retried], [1, 0, 1]);
});

Deno.test("settle() sends a never-sent event again at once, with no attempt charged", () => {
  const s = settle([record("e1", { attempts: 1 })], [failed("not-connected", false)], policy, NOW);
  assert.equal(s.retry[0].attempts, 1);
  assert.equal(s.retry[0].nextAttemptAt, NOW);
  assert.equal(s.retry[0].outcomeUnknown, false);
  assert.deepEqual([s.unknownOutcome, s.neverSent, s.retried], [0, 1, 0]);
  // Due now: the next pass takes it, no timer is needed.
  assert.equal(s.wakeAt, undefined);
});

Deno.test("settle() holds an event refused for a blocked connection for BLOCKED_RETRY_MS", () => {
  const s = settle([record("e1")], [failed("blocked", false)], policy, NOW);
  assert.equal(s.retry[0].nextAttemptAt, NOW + BLOCKED_RETRY_MS);
  assert.equal(s.wakeAt, NOW + BLOCKED_RETRY_MS);
});

Deno.test("settle() dead-letters an event after its maxRetries-th attempt as max-retries", () => {
  const s = settle([record("e1", { attempts: 2 })], [failed("nack", true)], policy, NOW);
  assert.deepEqual(s.retry, []);
  assert.equal(s.deadLetters.length, 1);
  const [dead] = s.deadLetters;
  assert.equal(dead.reason, "max-retries");
  assert.equal(dead.record.attempts, 3);
  assert.equal(dead.error.kind, "nack");
  // Should storing the dead letter fail, the event is retried after a backoff (attempt 3: 4000 / 2).
  assert.equal(dead.retryAt, NOW + 2_000);
  assert.equal(s.retried, 0);
});

Deno.test("settle() never retries a sent event when maxRetries is 1", () => {
  const once: SettlePolicy = { ...policy, retry: { ...policy.retry, maxRetries: 1 } };
  const s = settle([record("e1")], [failed("timeout", true)], once, NOW);
  assert.deepEqual(s.deadLetters.map((d) => d.reason), ["max-retries"]);
  assert.deepEqual(s.retry, []);
});

Deno.test("settle() dead-letters a permanent failure at once, with its reason, and spares the breaker", () => {
  const s = settle([record("e1"), record("e2")], [failed("unroutable", true), ok], policy, NOW);
  assert.equal(s.deadLetters.length, 1);
  assert.equal(s.deadLetters[0].reason, "unroutable");
  assert.equal(s.deadLetters[0].record.attempts, 1);
  assert.deepEqual(s.confirmed.map((r) => r.id), ["e2"]);
  // A refusal of one message says nothing about the broker's health.
  assert.equal(s.breakerFailure, undefined);
  assert.equal(s.lastError?.kind, "unroutable");
});

Deno.test("settle() reports the first retriable failure to the breaker and the last as lastError", () => {
  const s = settle(
    [record("e1"), record("e2"), record("e3")],
    [failed("timeout", true, "first"), failed("connection-lost", true, "second"), ok],
    policy,
    NOW,
  );
  assert.equal(s.breakerFailure?.message, "first");
  assert.equal(s.lastError?.message, "second");
  assert.equal(s.retry.length, 2);
  assert.equal(s.confirmed.length, 1);
});

Deno.test("settle() keeps the first failure time and masks credentials in the recorded error", () => {
  const s = settle(
    [record("e1", { attempts: 1, firstFailureAt: NOW - 9_000, outcomeUnknown: true })],
    [failed("connection-lost", false, "lost amqp://app:secret@rabbit:5672")],
    policy,
    NOW,
  );
  const [retry] = s.retry;
  assert.equal(retry.firstFailureAt, NOW - 9_000);
  assert.equal(retry.outcomeUnknown, true);
  assert.ok(!retry.lastError?.includes("secret"), retry.lastError);
});

Deno.test("settle() draws jitter for retries first, then for dead letters, in batch order", () => {
  let draws = 0;
  const counting: SettlePolicy = { ...policy, random: () => ++draws / 10 };
  const s = settle(
    [record("e1", { attempts: 2 }), record("e2"), record("e3")],
    [failed("timeout", true), failed("timeout", true), failed("timeout", true)],
    counting,
    NOW,
  );
  // e2 and e3 (attempt 1, ceiling 1000 ms) draw 0.1 and 0.2; e1's fallback (attempt 3, 4000 ms) 0.3.
  assert.deepEqual(s.retry.map((r) => [r.id, r.nextAttemptAt - NOW]), [["e2", 100], ["e3", 200]]);
  assert.deepEqual(s.deadLetters.map((d) => [d.record.id, d.retryAt - NOW]), [["e1", 1_200]]);
  assert.equal(draws, 3);
});

Deno.test("settle() does not change the batch it is given", () => {
  const batch = [record("e1")];
  const before = structuredClone(batch);
  settle(batch, [failed("timeout", true)], policy, NOW);
  assert.deepEqual(batch, before);
});

Deno.test("settle() sends an event lost with a channel closed over another one again at once, with no attempt charged", () => {
  const s = settle(
    [record("e1", { attempts: 1 }), record("e2")],
    [failed("channel-closed", true), failed("channel-closed", false)],
    policy,
    NOW,
  );
  assert.deepEqual(s.retry.map((r) => [r.attempts, r.nextAttemptAt]), [[1, NOW], [0, NOW]]);
  // The first went before the refused one: the broker may have it.
  assert.deepEqual(s.retry.map((r) => r.outcomeUnknown === true), [true, false]);
  assert.equal(s.resent, 2);
  assert.deepEqual([s.unknownOutcome, s.neverSent, s.retried], [0, 0, 0]);
  assert.equal(s.breakerFailure, undefined);
  assert.equal(s.lastError, undefined);
  assert.equal(s.wakeAt, undefined);
});

Deno.test("settle() charges the event a channel was refused over (404) with a backoff, and spares the breaker", () => {
  const refused: SendOutcome = {
    ok: false,
    error: new TransportError("closed-by-broker", "NOT_FOUND - no exchange 'gone' (404)", {
      code: 404,
      sent: true,
    }),
  };
  const s = settle([record("e1")], [refused], policy, NOW);
  assert.deepEqual(s.retry.map((r) => [r.attempts, r.nextAttemptAt]), [[1, NOW + 500]]);
  assert.equal(s.retried, 1);
  assert.equal(s.breakerFailure, undefined);
  assert.equal(s.lastError, refused.error);
});
