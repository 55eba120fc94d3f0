// The benchmark's smoke run: every row runs once with a few hundred events
// against the real broker. No timing is asserted, only that each row
// measured something, with its ratio where it has a reference.

import assert from "node:assert/strict";
import { trace } from "@opentelemetry/api";
import { runBenchmarks } from "../bench/publisher_bench.ts";
import { renderChart } from "../bench/chart.ts";
import { formatTable } from "../bench/_report.ts";
import { GROUPS } from "../bench/_rows.ts";
import { comparePaired } from "../bench/paired.ts";
import { formatTrace, summarise, traceThroughput } from "../bench/trace.ts";

const TELEMETRY_ROWS = {
  "telemetry.off": "memory",
  "telemetry.sdk": "memory",
  "telemetry.ceiling.off": "ceiling.memory",
  "telemetry.ceiling.sdk": "ceiling.memory",
};

Deno.test("runBenchmarks({ smoke: true }) gives every row finite figures, positive throughputs and ratios to a reference", async () => {
  const results = await runBenchmarks({ smoke: true, events: 300 });
  const groups = new Set(results.metrics.map((m) => m.group));
  for (const group of GROUPS) assert(groups.has(group), `no figure for the ${group} rows`);
  // The Node peer runs only where `npm ci --prefix bench/peer` has installed it.
  for (const { row } of results.skipped) assert.match(row, /^ref\.peer\.node/);
  for (const metric of results.metrics) {
    assert.equal(metric.runs.length, 1, metric.id);
    for (const value of [metric.median, metric.min, metric.max]) {
      assert(Number.isFinite(value), `${metric.id} is not finite: ${value}`);
    }
    // Memory growth of a few hundred events is lost in the collector's noise
    // (it can come out negative), and a latency percentile can round to zero.
    if (["throughput", "cpu", "bufferRate", "drainSeconds"].includes(metric.key)) {
      assert(metric.median > 0, `${metric.id} is not positive: ${metric.median}`);
    }
  }
  for (
    const id of ["memory", "kv", "high", "drain.memory", "memory.quorum", "inflight.memory.100"]
  ) {
    const metric = results.metrics.find((m) => m.id === `${id}.throughput`);
    assert(metric?.ratio !== undefined && metric.ratio > 0, `${id} has no ratio to a reference`);
    assert(metric.target !== undefined || id.startsWith("inflight"), `${id} has no target`);
  }
  // Telemetry's rows are compared with the default row each varies.
  for (const [id, against] of Object.entries(TELEMETRY_ROWS)) {
    for (const key of ["throughput", "cpu"]) {
      const metric = results.metrics.find((m) => m.id === `${id}.${key}`);
      assert.equal(metric?.comparedTo, against, `${id}.${key} is not compared with ${against}`);
      assert(metric.ratio! > 0, `${id}.${key} has no ratio`);
    }
  }
  // A backlog's drain is compared with the raw loop sending as many events.
  for (const store of ["memory", "kv"]) {
    const metric = results.metrics.find((m) => m.id === `backlog.${store}.300.throughput`);
    assert.equal(metric?.comparedTo, "backlog.raw.300", `backlog.${store}.300`);
    assert(metric.ratio! > 0, `backlog.${store}.300 has no ratio`);
  }
  const table = formatTable(results);
  assert.match(table, /publish\(\), memory store/);
  assert.match(
    table,
    /\| backlog of 300, Deno KV store \|.*\| [\d,]+ \(\d+\.\d\d×\) \| [\d,]+ \|$/m,
  );
  assert.match(table, /\| \d+\.\d\d × ceiling\.memory \|/);
  const chart = renderChart(results);
  assert.match(chart, /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
  // One point per bound on the in-flight curve: the backlogs' raw loops stay off it.
  assert.equal(chart.match(/text-anchor="middle">500<\/text>/g)?.length, 1, "the in-flight axis");
});

Deno.test('runBenchmarks({ only: ["telemetry"] }) runs the default rows compared with, and leaves no SDK registered', async () => {
  const results = await runBenchmarks({ smoke: true, events: 100, only: ["telemetry"] });
  const rows = new Set(results.metrics.map((m) => m.row));
  for (const id of [...Object.keys(TELEMETRY_ROWS), ...Object.values(TELEMETRY_ROWS)]) {
    assert(rows.has(id), `${id} did not run`);
  }
  assert(!rows.has("kv") && !rows.has("ceiling.kv"), "rows of other groups ran");
  const span = trace.getTracer("bench-smoke").startSpan("after the run");
  assert.equal(span.isRecording(), false, "an SDK is still registered");
  span.end();
});

Deno.test("comparePaired() gives the ratios of two rows over paired rounds", async () => {
  const paired = await comparePaired("ceiling.memory", "telemetry.ceiling.off", {
    events: 200,
    rounds: 2,
  });
  for (const ratio of [paired.throughput, paired.cpu]) {
    assert(ratio.median > 0 && Number.isFinite(ratio.median), `ratio ${ratio.median}`);
    assert(ratio.q1 <= ratio.median && ratio.median <= ratio.q3);
  }
  for (const m of [paired.a, paired.b]) assert(m.throughput > 0 && m.cpu > 0);
  await assert.rejects(() => comparePaired("ceiling.memory", "no.such.row"), RangeError);
});

Deno.test("traceThroughput() follows a run from the first publish() to the last confirm", async () => {
  for (const kv of [false, true]) {
    const trace = await traceThroughput({ kv, events: 300, everyMs: 2 });
    assert(trace.handOverMs <= trace.acceptedMs && trace.acceptedMs <= trace.confirmedMs);
    assert(trace.throughput > 0 && Number.isFinite(trace.throughput));
    assert(trace.meanInFlight >= 0 && trace.meanInFlight <= 500, `in flight ${trace.meanInFlight}`);
    const last = trace.samples.at(-1)!;
    assert.deepEqual([last.accepted, last.confirmed, last.inFlight], [300, 300, 0]);
    assert.match(formatTrace(trace, true), /^ +ms +accepted[^]*events\/s/);
  }
});

Deno.test("summarise() finds the longest time without a confirm while events were in flight", () => {
  const at = (atMs: number, confirmed: number, inFlight: number) => ({
    atMs,
    accepted: 10,
    confirmed,
    inFlight,
    queued: 0,
  });
  const samples = [
    at(0, 0, 0), // nothing sent yet: no stall before the first send
    at(50, 0, 0),
    at(100, 0, 5),
    at(150, 0, 5),
    at(250, 0, 5), // 150 ms with 5 in flight and no confirm
    at(300, 5, 5),
    at(350, 10, 0),
  ];
  const { meanInFlight, longestStallMs, throughput } = summarise(samples, 10, 400);
  assert.equal(longestStallMs, 150);
  assert.equal(meanInFlight, 5);
  assert.equal(throughput, 25);
});
