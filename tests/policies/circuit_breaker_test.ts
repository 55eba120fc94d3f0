import assert from "node:assert/strict";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitStateChange,
} from "../../src/policies/circuit_breaker.ts";

/** A breaker on a fake clock that records every change of state. */
function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = { now: 1_000 };
  const changes: CircuitStateChange[] = [];
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    resetTimeout: 10_000,
    now: () => clock.now,
    onStateChange: (change) => changes.push(change),
    ...options,
  });
  const transitions = () => changes.map(({ from, to }) => `${from}->${to}`);
  return { clock, changes, breaker, transitions };
}

function openIt(breaker: CircuitBreaker, failures = 3): void {
  for (let i = 0; i < failures; i++) breaker.recordFailure("nack");
}

Deno.test("CircuitBreaker starts closed and allows sends", () => {
  const { breaker, changes } = setup();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.reopensAt(), undefined);
  assert.deepEqual(breaker.snapshot(), {
    state: "closed",
    consecutiveFailures: 0,
    transitions: 0,
  });
  assert.deepEqual(changes, []);
});

Deno.test("CircuitBreaker opens after failureThreshold consecutive failures", () => {
  const { breaker, changes } = setup();
  breaker.recordFailure("nack");
  breaker.recordFailure("timeout");
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsSend(), true);
  breaker.recordFailure("TransportError: blocked");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsSend(), false);
  assert.deepEqual(changes, [{
    from: "closed",
    to: "open",
    reason: "3 consecutive failures: TransportError: blocked",
    at: 1_000,
  }]);
});

Deno.test("CircuitBreaker counts only consecutive failures: a success resets the count", () => {
  const { breaker } = setup();
  breaker.recordFailure("nack");
  breaker.recordFailure("nack");
  breaker.recordSuccess();
  assert.equal(breaker.snapshot().consecutiveFailures, 0);
  breaker.recordFailure("nack");
  breaker.recordFailure("nack");
  assert.equal(breaker.state, "closed");
  breaker.recordFailure("nack");
  assert.equal(breaker.state, "open");
});

Deno.test("CircuitBreaker opens on the first failure when failureThreshold is 1", () => {
  const { breaker } = setup({ failureThreshold: 1 });
  breaker.recordFailure("nack");
  assert.equal(breaker.state, "open");
});

Deno.test("CircuitBreaker stays open until resetTimeout has elapsed", () => {
  const { clock, breaker, transitions } = setup();
  openIt(breaker);
  assert.equal(breaker.reopensAt(), 11_000);
  clock.now = 10_999;
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsSend(), false);
  assert.equal(breaker.reopensAt(), 11_000);
  assert.deepEqual(transitions(), ["closed->open"]);
});

Deno.test("CircuitBreaker late failures while open do not prolong the open period", () => {
  const { clock, breaker } = setup();
  openIt(breaker);
  clock.now = 5_000;
  breaker.recordFailure("nack");
  assert.equal(breaker.snapshot().consecutiveFailures, 4);
  assert.equal(breaker.reopensAt(), 11_000);
});

Deno.test("CircuitBreaker late successes while open do not close it", () => {
  const { breaker } = setup();
  openIt(breaker);
  breaker.recordSuccess();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.snapshot().consecutiveFailures, 3);
});

Deno.test("CircuitBreaker half-opens after resetTimeout and closes on success", () => {
  const { clock, breaker, changes } = setup();
  openIt(breaker);
  clock.now = 11_000;
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.reopensAt(), undefined);
  assert.equal(breaker.allowsSend(), true);
  clock.now = 11_500;
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsSend(), true);
  assert.deepEqual(breaker.snapshot(), {
    state: "closed",
    consecutiveFailures: 0,
    lastTransition: { from: "half_open", to: "closed", reason: "probe succeeded", at: 11_500 },
    transitions: 3,
  });
  assert.deepEqual(changes.slice(1), [
    { from: "open", to: "half_open", reason: "resetTimeout of 10000 ms elapsed", at: 11_000 },
    { from: "half_open", to: "closed", reason: "probe succeeded", at: 11_500 },
  ]);
});

Deno.test("CircuitBreaker half-opens on allowsSend() without the state being read first", () => {
  const { clock, breaker, transitions } = setup();
  openIt(breaker);
  clock.now = 20_000;
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.state, "half_open");
  assert.deepEqual(transitions(), ["closed->open", "open->half_open"]);
});

Deno.test("CircuitBreaker lets only one probe through while half open", () => {
  const { clock, breaker } = setup();
  openIt(breaker);
  clock.now = 11_000;
  assert.deepEqual(
    [breaker.allowsSend(), breaker.allowsSend(), breaker.allowsSend()],
    [true, false, false],
  );
  clock.now = 50_000;
  assert.equal(breaker.allowsSend(), false, "a long wait does not release another probe");
  assert.equal(breaker.state, "half_open");
});

Deno.test("CircuitBreaker reopens and restarts the timer when the probe fails", () => {
  const { clock, breaker, changes, transitions } = setup();
  openIt(breaker);
  clock.now = 11_000;
  assert.equal(breaker.allowsSend(), true);
  clock.now = 12_000;
  breaker.recordFailure("timeout");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsSend(), false);
  assert.equal(breaker.reopensAt(), 22_000);
  assert.deepEqual(changes.at(-1), {
    from: "half_open",
    to: "open",
    reason: "probe failed: timeout",
    at: 12_000,
  });
  assert.equal(breaker.snapshot().openedAt, 12_000);

  clock.now = 21_999;
  assert.equal(breaker.allowsSend(), false);
  clock.now = 22_000;
  assert.equal(breaker.allowsSend(), true, "a new probe after the restarted timeout");
  breaker.recordSuccess();
  assert.deepEqual(transitions(), [
    "closed->open",
    "open->half_open",
    "half_open->open",
    "open->half_open",
    "half_open->closed",
  ]);
});

Deno.test("CircuitBreaker trip() opens the circuit at once on connection loss", () => {
  const { clock, breaker, changes } = setup();
  clock.now = 2_000;
  breaker.trip("connection lost: ECONNRESET");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsSend(), false);
  assert.equal(breaker.reopensAt(), 12_000);
  assert.deepEqual(changes, [{
    from: "closed",
    to: "open",
    reason: "connection lost: ECONNRESET",
    at: 2_000,
  }]);
  assert.equal(breaker.snapshot().consecutiveFailures, 0);
});

Deno.test("CircuitBreaker trip() on an open circuit changes nothing and keeps its timer", () => {
  const { clock, breaker, changes } = setup();
  breaker.trip("connection lost");
  clock.now = 9_000;
  breaker.trip("connection lost again");
  assert.equal(breaker.reopensAt(), 11_000);
  assert.equal(changes.length, 1);
});

Deno.test("CircuitBreaker trip() while half open reopens and restarts the timer", () => {
  const { clock, breaker, transitions } = setup();
  breaker.trip("connection lost");
  clock.now = 11_000;
  assert.equal(breaker.allowsSend(), true);
  clock.now = 11_200;
  breaker.trip("connection lost during the probe");
  assert.equal(breaker.state, "open");
  assert.equal(breaker.reopensAt(), 21_200);
  assert.deepEqual(transitions(), ["closed->open", "open->half_open", "half_open->open"]);
});

Deno.test("CircuitBreaker onStateChange sees every transition exactly once", () => {
  const { clock, breaker, changes } = setup();
  openIt(breaker);
  for (let i = 0; i < 5; i++) {
    void breaker.state;
    breaker.allowsSend();
    breaker.reopensAt();
    breaker.snapshot();
  }
  clock.now = 11_000;
  for (let i = 0; i < 5; i++) {
    void breaker.state;
    breaker.allowsSend();
    breaker.reopensAt();
    breaker.snapshot();
  }
  breaker.recordSuccess();
  breaker.recordSuccess();
  breaker.trip("connection lost");
  breaker.trip("connection lost");
  assert.deepEqual(
    changes.map(({ from, to, at }) => [from, to, at]),
    [
      ["closed", "open", 1_000],
      ["open", "half_open", 11_000],
      ["half_open", "closed", 11_000],
      ["closed", "open", 11_000],
    ],
  );
  const snapshot = breaker.snapshot();
  assert.equal(snapshot.transitions, changes.length);
  assert.equal(snapshot.lastTransition, changes.at(-1));
});

Deno.test("CircuitBreaker keeps working when the onStateChange listener throws", () => {
  let calls = 0;
  const { clock, breaker } = setup({
    onStateChange: () => {
      calls++;
      throw new Error("listener failed");
    },
  });
  openIt(breaker);
  assert.equal(breaker.state, "open");
  clock.now = 11_000;
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.allowsSend(), false);
  breaker.recordSuccess();
  assert.equal(breaker.state, "closed");
  assert.equal(calls, 3);
  assert.equal(breaker.snapshot().transitions, 3);
});

Deno.test("CircuitBreaker reports the new state to a listener that reads it", () => {
  const seen: string[] = [];
  const breaker: CircuitBreaker = new CircuitBreaker({
    failureThreshold: 1,
    resetTimeout: 10_000,
    now: () => 0,
    onStateChange: ({ to }) => seen.push(`${to}=${breaker.state}`),
  });
  breaker.recordFailure("nack");
  assert.deepEqual(seen, ["open=open"]);
});

Deno.test("CircuitBreaker snapshot() carries openedAt while open and half open", () => {
  const { clock, breaker } = setup();
  clock.now = 3_000;
  openIt(breaker);
  assert.equal(breaker.snapshot().openedAt, 3_000);
  clock.now = 13_000;
  assert.deepEqual(breaker.snapshot(), {
    state: "half_open",
    consecutiveFailures: 3,
    openedAt: 3_000,
    lastTransition: {
      from: "open",
      to: "half_open",
      reason: "resetTimeout of 10000 ms elapsed",
      at: 13_000,
    },
    transitions: 2,
  });
  breaker.allowsSend();
  breaker.recordSuccess();
  assert.equal(breaker.snapshot().openedAt, undefined);
});

Deno.test("CircuitBreaker with resetTimeout 0 half-opens as soon as it is asked", () => {
  const { breaker, transitions } = setup({ resetTimeout: 0 });
  breaker.trip("connection lost");
  assert.equal(breaker.allowsSend(), true);
  assert.deepEqual(transitions(), ["closed->open", "open->half_open"]);
});

Deno.test("CircuitBreaker uses Date.now when no clock is given", () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
  const before = Date.now();
  breaker.trip("connection lost");
  const openedAt = breaker.snapshot().openedAt!;
  assert.ok(openedAt >= before && openedAt <= Date.now());
  assert.equal(breaker.reopensAt(), openedAt + 60_000);
});

Deno.test("CircuitBreaker throws RangeError naming the field for bad options", () => {
  for (const failureThreshold of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new CircuitBreaker({ failureThreshold, resetTimeout: 1 }), {
      name: "RangeError",
      message: `'failureThreshold' must be a positive integer: got ${failureThreshold}`,
    });
  }
  for (const resetTimeout of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 1, resetTimeout }), {
      name: "RangeError",
      message: `'resetTimeout' must be a finite number of ms >= 0: got ${resetTimeout}`,
    });
  }
});

Deno.test("CircuitBreaker releaseProbe() lets the next caller probe when the probe sent nothing", () => {
  const { clock, breaker, transitions } = setup();
  openIt(breaker);
  clock.now = 11_000;
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.allowsSend(), false);
  breaker.releaseProbe();
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.allowsSend(), false);
  assert.deepEqual(transitions(), ["closed->open", "open->half_open"]);
});

Deno.test("CircuitBreaker releaseProbe() does nothing outside half_open", () => {
  const { clock, breaker, changes } = setup();
  breaker.releaseProbe();
  assert.equal(breaker.state, "closed");
  breaker.trip("connection lost");
  breaker.releaseProbe();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.allowsSend(), false);
  clock.now = 11_000;
  breaker.releaseProbe();
  assert.equal(breaker.state, "half_open");
  assert.equal(changes.length, 2);
});

Deno.test("CircuitBreaker reset() closes an open circuit at once, e.g. on reconnect", () => {
  const { clock, breaker, changes } = setup();
  openIt(breaker);
  clock.now = 4_000;
  breaker.reset("connection re-established");
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.reopensAt(), undefined);
  assert.equal(breaker.snapshot().consecutiveFailures, 0);
  assert.deepEqual(changes.at(-1), {
    from: "open",
    to: "closed",
    reason: "connection re-established",
    at: 4_000,
  });
});

Deno.test("CircuitBreaker reset() closes a half-open circuit and frees its probe", () => {
  const { clock, breaker, transitions } = setup();
  openIt(breaker);
  clock.now = 11_000;
  assert.equal(breaker.allowsSend(), true);
  breaker.reset("connection re-established");
  assert.equal(breaker.allowsSend(), true);
  assert.equal(breaker.allowsSend(), true);
  assert.deepEqual(transitions(), ["closed->open", "open->half_open", "half_open->closed"]);
});

Deno.test("CircuitBreaker reset() on a closed circuit clears the count without a transition", () => {
  const { breaker, changes } = setup();
  breaker.recordFailure("nack");
  breaker.recordFailure("nack");
  breaker.reset("connection re-established");
  assert.equal(breaker.snapshot().consecutiveFailures, 0);
  assert.deepEqual(changes, []);
});
