/**
 * The benchmark's chart, an SVG the README shows: throughput of every
 * scenario beside the references (classic and quorum queues), throughput
 * against the in-flight bound, and the latency percentiles of `publish()`.
 *
 * @module
 */

import type { Metric, Results } from "./_results.ts";

const WIDTH = 900;
const LABEL = 360;
const BAR = 18;
const GAP = 6;
const REFERENCE = "#9aa0a6";
const OURS = "#1a73e8";
const QUORUM = "#0b8043";

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const int = (v: number) => Math.round(v).toLocaleString("en-US");

function text(x: number, y: number, body: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escape(body)}</text>`;
}

/** Horizontal bars of the throughput rows; returns the SVG and its height. */
function throughputPanel(metrics: Metric[], top: number): [string, number] {
  const rows = metrics.filter((m) =>
    m.key === "throughput" && m.bytes === 300 && !m.group.startsWith("ceiling") &&
    m.group !== "inflight" && m.group !== "backlog" && m.group !== "telemetry"
  );
  const max = Math.max(...rows.map((m) => m.max), 1);
  const scale = (WIDTH - LABEL - 150) / max;
  const parts = [
    text(10, top + 14, "Throughput, events/s (median; whisker: min–max)", 'class="h"'),
  ];
  let y = top + 28;
  for (const m of rows) {
    const colour = m.reference ? REFERENCE : m.queueType === "quorum" ? QUORUM : OURS;
    const name = `${m.label}${m.queueType === "quorum" ? " · quorum" : ""}`;
    parts.push(
      text(LABEL - 8, y + 13, name, 'text-anchor="end"'),
      `<rect x="${LABEL}" y="${y}" width="${
        (m.median * scale).toFixed(1)
      }" height="${BAR}" fill="${colour}"/>`,
      `<line x1="${LABEL + m.min * scale}" x2="${LABEL + m.max * scale}" y1="${y + BAR / 2}" ` +
        `y2="${y + BAR / 2}" stroke="#202124"/>`,
      text(
        LABEL + m.max * scale + 6,
        y + 13,
        `${int(m.median)}${
          m.ratio !== undefined && !m.reference ? ` (${m.ratio.toFixed(2)}×)` : ""
        }`,
      ),
    );
    y += BAR + GAP;
  }
  return [parts.join("\n"), y - top + 10];
}

/** Throughput against the in-flight bound, the raw loop beside ours; log x axis. */
function inFlightPanel(metrics: Metric[], top: number): [string, number] {
  const series = (raw: boolean) =>
    metrics.filter((m) =>
      m.key === "throughput" && m.inFlight !== undefined && m.queueType === "classic" &&
      m.bytes === 300 && (raw ? m.row.includes("raw") : !m.reference && !m.row.includes("raw"))
    ).sort((a, b) => a.inFlight! - b.inFlight!);
  const lines = [series(true), series(false)];
  const points = lines.flat();
  if (points.length === 0) return ["", 0];
  const height = 220;
  const [left, right] = [LABEL, WIDTH - 60];
  const xs = points.map((m) => Math.log10(m.inFlight!));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const yMax = Math.max(...points.map((m) => m.median)) * 1.15;
  const px = (bound: number) => left + (Math.log10(bound) - x0) / (x1 - x0) * (right - left);
  const py = (v: number) => top + 30 + (1 - v / yMax) * (height - 60);
  const parts = [
    text(10, top + 14, "Throughput vs events in flight (classic queue)", 'class="h"'),
    `<line x1="${left}" x2="${right}" y1="${py(0)}" y2="${py(0)}" stroke="#5f6368"/>`,
    text(left - 8, py(0), "0", 'text-anchor="end"'),
    text(left - 8, py(yMax / 1.15) + 4, int(yMax / 1.15), 'text-anchor="end"'),
  ];
  for (const m of lines[0]) {
    parts.push(text(px(m.inFlight!), py(0) + 16, int(m.inFlight!), 'text-anchor="middle"'));
  }
  for (const [k, line] of lines.entries()) {
    const colour = k === 0 ? REFERENCE : OURS;
    const path = line.map((m) => `${px(m.inFlight!).toFixed(1)},${py(m.median).toFixed(1)}`);
    parts.push(
      `<polyline points="${path.join(" ")}" fill="none" stroke="${colour}" stroke-width="2.5"/>`,
      ...line.map((m) =>
        `<circle cx="${px(m.inFlight!).toFixed(1)}" cy="${
          py(m.median).toFixed(1)
        }" r="4" fill="${colour}"/>`
      ),
      text(
        20,
        top + 50 + 18 * k,
        k === 0 ? "raw amqp-client loop" : "publish(), memory store",
        `fill="${colour}"`,
      ),
    );
  }
  return [parts.join("\n"), height];
}

/** Latency percentiles of queued publish(), log scale in ms. */
function latencyPanel(metrics: Metric[], top: number): [string, number] {
  const rows = [...new Set(metrics.filter((m) => m.group === "latency").map((m) => m.row))];
  if (rows.length === 0) return ["", 0];
  const get = (row: string, key: string) => metrics.find((m) => m.row === row && m.key === key);
  const values = rows.flatMap((row) => ["p50", "p99", "max"].map((k) => get(row, k)?.median ?? 0));
  const lo = Math.log10(Math.max(1e-3, Math.min(...values.filter((v) => v > 0))) / 2);
  const hi = Math.log10(Math.max(...values) * 2);
  const scale = (v: number) =>
    Math.max(2, (Math.log10(Math.max(v, 1e-4)) - lo) / (hi - lo) * (WIDTH - LABEL - 150));
  const parts = [
    text(10, top + 14, "Queued publish() latency, ms (log scale): p50, p99, max", 'class="h"'),
  ];
  let y = top + 28;
  for (const row of rows) {
    for (const [k, key] of ["p50", "p99", "max"].entries()) {
      const m = get(row, key);
      if (m === undefined) continue;
      parts.push(
        text(
          LABEL - 8,
          y + 13,
          `${k === 0 ? m.label.replace(/^queued publish\(\) latency, /, "") + " " : ""}${key}`,
          'text-anchor="end"',
        ),
        `<rect x="${LABEL}" y="${y}" width="${scale(m.median).toFixed(1)}" height="${BAR}" ` +
          `fill="${OURS}" fill-opacity="${0.45 + 0.25 * k}"/>`,
        text(
          LABEL + scale(m.median) + 6,
          y + 13,
          m.median < 1 ? m.median.toFixed(3) : m.median.toFixed(1),
        ),
      );
      y += BAR + 2;
    }
    y += GAP * 2;
  }
  return [parts.join("\n"), y - top];
}

/**
 * Draws the chart.
 *
 * @param results What `runBenchmarks()` returned.
 * @returns An SVG document.
 */
export function renderChart(results: Results): string {
  const panels: string[] = [];
  let top = 50;
  for (const panel of [throughputPanel, inFlightPanel, latencyPanel]) {
    const [svg, height] = panel(results.metrics, top);
    panels.push(svg);
    top += height + 16;
  }
  const env = results.environment;
  const caption =
    `${results.date.slice(0, 10)} · Deno ${env.deno}${env.node ? ` · Node ${env.node}` : ""} · ` +
    `${env.cpus} CPUs · ${results.options.events.toLocaleString("en-US")} events × 300 B, ` +
    `medians of ${results.options.runs} rounds`;
  const legend =
    "grey: references · blue: ours · green: ours on a quorum queue · (×): to the best reference";
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${top}" viewBox="0 0 ${WIDTH} ${top}" ` +
    `font-family="system-ui, sans-serif" font-size="12" fill="#202124">`,
    `<style>.h { font-weight: 600; font-size: 14px; }</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(10, 18, caption),
    text(10, 34, legend),
    ...panels,
    "</svg>",
    "",
  ].join("\n");
}
