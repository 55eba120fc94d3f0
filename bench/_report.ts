// The benchmark's results as markdown tables: throughput with ratios and CPU
// per event, latency percentiles, and the backlog curve.

import type { Metric, Results } from "./_results.ts";

const int = (v: number) => Number.isNaN(v) ? "–" : Math.round(v).toLocaleString("en-US");
const ms = (v: number) => Number.isNaN(v) ? "–" : v < 1 ? v.toFixed(3) : v.toFixed(1);
const times = (r: number | undefined) => r === undefined ? "" : ` (${r.toFixed(2)}×)`;

/**
 * The results as markdown: a line on the machine, then one table for
 * throughput, one for latency and one for backlogs.
 *
 * @param results What `runBenchmarks()` returned.
 * @returns The tables.
 */
export function formatTable(results: Results): string {
  const byRow = new Map<string, Map<string, Metric>>();
  for (const m of results.metrics) {
    if (!byRow.has(m.row)) byRow.set(m.row, new Map());
    byRow.get(m.row)!.set(m.key, m);
  }
  const targets = (row: Map<string, Metric>) =>
    [...row.values()].filter((m) => m.target)
      .map((m) => `${m.target!.text}: ${m.target!.met ? "met" : "**missed**"}`).join("; ");
  // A ratio to a row that is not a reference says which row it is.
  const references = new Set(results.metrics.filter((m) => m.reference).map((m) => m.row));
  const ratio = (m: Metric) =>
    m.ratio === undefined ? "" : m.ratio.toFixed(2) +
      (m.comparedTo && !references.has(m.comparedTo) ? ` × ${m.comparedTo}` : "");
  const env = results.environment;
  const lines = [
    `Deno ${env.deno}${env.node ? `, Node ${env.node}` : ""}, ${env.os}, ${env.cpus} CPUs` +
    (env.load ? `, load ${env.load.map((l) => l.toFixed(1)).join(" ")}` : "") +
    `; medians of ${results.options.runs} round${results.options.runs === 1 ? "" : "s"}` +
    (results.options.warmUp ? " after a warm-up round" : "") +
    "; × is to the best reference of the same queue type and size (CPU: to the raw loop)," +
    " or to the row named.",
    "",
    "| row | events | events/s (min–max) | × best | µs CPU/event | targets |",
    "|---|---:|---:|---:|---:|---|",
  ];
  for (const row of byRow.values()) {
    const t = row.get("throughput");
    if (t === undefined || t.group === "backlog") continue;
    const cpu = row.get("cpu");
    lines.push(
      `| ${t.reference ? "*" : ""}${t.label}${t.queueType === "quorum" ? " [quorum]" : ""}` +
        `${t.reference ? "*" : ""} | ${int(t.events)} × ${t.bytes} B | ${int(t.median)} ` +
        `(${int(t.min)}–${int(t.max)}) | ${ratio(t)} | ` +
        `${cpu ? cpu.median.toFixed(1) + times(cpu.ratio) : ""} | ${targets(row)} |`,
    );
  }
  const latency = [...byRow.values()].filter((r) => r.has("p99") && !r.has("drainSeconds"));
  if (latency.length > 0) {
    lines.push("", "| latency of publish() | events | p50 ms | p99 ms | max ms | targets |");
    lines.push("|---|---:|---:|---:|---:|---|");
    for (const row of latency) {
      const p = row.get("p99")!;
      lines.push(
        `| ${p.label} | ${int(p.events)} | ${ms(row.get("p50")!.median)} | ${ms(p.median)} | ` +
          `${ms(row.get("max")!.median)} | ${targets(row)} |`,
      );
    }
  }
  const backlogs = [...byRow.values()].filter((r) => r.has("drainSeconds"));
  if (backlogs.length > 0) {
    lines.push(
      "",
      "| backlog (outage) | publish() p50 / p99 ms | buffered events/s | heap B/event | " +
        "RSS B/event | heap / RSS MB | drain s | drain events/s (× raw loop) | " +
        "raw loop, as many events, events/s |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const row of backlogs) {
      const get = (key: string) => row.get(key)?.median ?? NaN;
      const t = row.get("throughput")!;
      const raw = t.comparedTo === undefined ? undefined : byRow.get(t.comparedTo);
      lines.push(
        `| ${t.label} | ${ms(get("p50"))} / ${ms(get("p99"))} | ${int(get("bufferRate"))} | ` +
          `${int(get("heap"))} | ${int(get("rss"))} | ${int(get("heapMB"))} / ${
            int(get("rssMB"))
          } | ` +
          `${get("drainSeconds").toFixed(1)} | ${int(t.median)}${times(t.ratio)} | ` +
          `${int(raw?.get("throughput")?.median ?? NaN)} |`,
      );
    }
  }
  for (const { row, reason } of results.skipped) lines.push("", `Skipped ${row}: ${reason}.`);
  return lines.join("\n");
}
