import assert from "node:assert/strict";
import { backoffDelay, ceilingDelay } from "../../src/policies/retry.ts";

const options = { maxRetries: 5, baseDelay: 1_000, maxDelay: 60_000, multiplier: 2 };

Deno.test("ceilingDelay() grows by the multiplier from baseDelay and stops at maxDelay", () => {
  const ceilings = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => ceilingDelay(attempt, options));
  assert.deepEqual(ceilings, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
});

Deno.test("ceilingDelay() saturates at maxDelay for huge attempt numbers", () => {
  for (const attempt of [1_024, 1_025, 1_000_000, Number.MAX_SAFE_INTEGER]) {
    assert.equal(ceilingDelay(attempt, options), 60_000);
  }
});

Deno.test("ceilingDelay() is 0 when baseDelay is 0, even when the growth overflows", () => {
  assert.equal(ceilingDelay(5_000, { ...options, baseDelay: 0 }), 0);
});

Deno.test("ceilingDelay() returns whole milliseconds for fractional multipliers", () => {
  const ceiling = ceilingDelay(2, { ...options, baseDelay: 1_001, multiplier: 1.5 });
  assert.equal(ceiling, 1_501);
});

Deno.test("ceilingDelay() is maxDelay from the first attempt when maxDelay < baseDelay", () => {
  assert.equal(ceilingDelay(1, { ...options, baseDelay: 5_000, maxDelay: 2_000 }), 2_000);
});

Deno.test("ceilingDelay() throws RangeError naming 'attempt' when it is not a positive integer", () => {
  for (const attempt of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => ceilingDelay(attempt, options), {
      name: "RangeError",
      message: `'attempt' must be a positive integer: got ${attempt}`,
    });
  }
});

Deno.test("backoffDelay() applies full jitter: random() times the ceiling", () => {
  assert.equal(backoffDelay(3, options, () => 0), 0);
  assert.equal(backoffDelay(3, options, () => 0.25), 1_000);
  assert.equal(backoffDelay(3, options, () => 0.5), 2_000);
  assert.equal(backoffDelay(3, options, () => 0.999_999), 3_999);
});

Deno.test("backoffDelay() returns an integer between 0 and the ceiling with Math.random", () => {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const delay = backoffDelay(attempt, options);
    assert.ok(Number.isInteger(delay), `not an integer: ${delay}`);
    assert.ok(delay >= 0 && delay <= ceilingDelay(attempt, options), `out of range: ${delay}`);
  }
});

Deno.test("backoffDelay() stays within [0, ceiling] when the random source misbehaves", () => {
  assert.equal(backoffDelay(2, options, () => 7), 2_000);
  assert.equal(backoffDelay(2, options, () => -3), 0);
  assert.equal(backoffDelay(2, options, () => Number.NaN), 0);
});

Deno.test("backoffDelay() does not overflow for huge attempt numbers", () => {
  assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, options, () => 0.5), 30_000);
});

Deno.test("backoffDelay() throws RangeError when attempt is 0", () => {
  assert.throws(() => backoffDelay(0, options, () => 0.5), RangeError);
});
