// The benchmark's smoke run: every scenario runs once with a few hundred
// events against the real broker. No timing is asserted, only that each
// scenario measured something.

import assert from "node:assert/strict";
import { runBenchmarks } from "../bench/publisher_bench.ts";

Deno.test("runBenchmarks({ smoke: true }) gives every scenario a finite figure and every throughput a positive one", async () => {
  const results = await runBenchmarks({ smoke: true, events: 300 });
  const groups = new Set(results.metrics.map((m) => m.group));
  for (const group of ["baseline", "memory", "kv", "high", "drain", "latency", "heap"]) {
    assert(groups.has(group as never), `no figure for the ${group} scenarios`);
  }
  for (const metric of results.metrics) {
    assert.equal(metric.runs.length, 1, metric.id);
    for (const value of [metric.median, metric.min, metric.max]) {
      assert(Number.isFinite(value), `${metric.id} is not finite: ${value}`);
    }
  }
  // Memory growth of 300 events is lost in the collector's noise (it can come
  // out negative), and a latency percentile can round to zero: the heap
  // scenario only has to produce finite figures, checked above; every other
  // scenario has one figure that must be positive.
  const positive = [
    "baseline",
    "throughput.memory",
    "throughput.kv",
    "throughput.high",
    "drain.memory",
    "drain.kv",
    "latency.memory.max",
    "latency.kv.max",
  ];
  for (const id of positive) {
    const metric = results.metrics.find((m) => m.id === id);
    assert(metric !== undefined, `no metric ${id}`);
    assert(metric.median > 0, `${id} is not positive: ${metric.median}`);
  }
});
