import assert from "node:assert/strict";
import { ThroughputRing } from "../../src/status/_throughput.ts";

const at = (seconds: number, published: number, failed = 0, deadLettered = 0) => ({
  at: seconds * 1000,
  published,
  failed,
  deadLettered,
});

Deno.test("ThroughputRing keeps samples at least the interval apart, at most its capacity", () => {
  const ring = new ThroughputRing(3, 10_000);
  ring.offer(at(0, 0));
  ring.offer(at(5, 50)); // too soon after the last kept one
  ring.offer(at(10, 100));
  ring.offer(at(20, 300));
  ring.offer(at(30, 300));
  assert.deepEqual(ring.samples().map((s) => s.at), [10_000, 20_000, 30_000]);
});

Deno.test("ThroughputRing.rates() gives the rate over the window and per interval, up to now", () => {
  const ring = new ThroughputRing(10, 10_000);
  ring.offer(at(0, 0));
  ring.offer(at(10, 100, 10));
  ring.offer(at(20, 300, 10, 5));
  const rates = ring.rates(at(25, 400, 10, 5));
  assert.deepEqual(rates.windowMs, 25_000);
  assert.deepEqual(rates.publishedPerSecond, 16);
  assert.deepEqual(rates.failedPerSecond, 0.4);
  assert.deepEqual(rates.deadLetteredPerSecond, 0.2);
  assert.deepEqual(rates.series.map((p) => p.published), [10, 20, 20]);
  assert.deepEqual(rates.series.map((p) => p.at), [10_000, 20_000, 25_000]);
});

Deno.test("ThroughputRing.rates() with one sample has no window yet", () => {
  const ring = new ThroughputRing(10, 10_000);
  ring.offer(at(0, 7));
  const rates = ring.rates(at(0, 7));
  assert.deepEqual(rates.windowMs, 0);
  assert.deepEqual(rates.publishedPerSecond, 0);
  assert.deepEqual(rates.series, []);
});
